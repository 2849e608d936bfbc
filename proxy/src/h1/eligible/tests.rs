//! The rule against the raw bytes of each smuggling class: every one goes to hyper.

use super::*;

fn verdict(raw: &[u8]) -> Result<Eligible, Ineligible> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_FIELDS];
    let mut req = httparse::Request::new(&mut fields);
    let len = match req.parse(raw) {
        Ok(httparse::Status::Complete(len)) => len,
        other => panic!("test input does not parse: {other:?}"),
    };
    check(&req, &raw[..len])
}

fn refused(raw: &[u8]) -> Ineligible {
    verdict(raw).expect_err(&String::from_utf8_lossy(raw))
}

/// Whether httparse takes the head at all (if not, hyper answers it: 400).
fn parses(raw: &[u8]) -> bool {
    let mut fields = [httparse::EMPTY_HEADER; MAX_FIELDS];
    matches!(
        httparse::Request::new(&mut fields).parse(raw),
        Ok(httparse::Status::Complete(_))
    )
}

#[test]
fn the_common_request_is_eligible() {
    let ok = verdict(b"GET /a/b?c=d&e=%20 HTTP/1.1\r\nHost: app.example:8080\r\nx-origin-verify: v\r\nAccept: */*\r\n\r\n")
        .unwrap();
    assert_eq!(
        ok,
        Eligible {
            content_length: 0,
            close: false,
            hop_by_hop: 0
        }
    );
    let post = verdict(b"POST /x HTTP/1.1\r\nhost: a\r\ncontent-length: 12\r\nconnection: keep-alive, close\r\nTE: trailers\r\n\r\n").unwrap();
    assert_eq!(post.content_length, 12);
    assert!(post.close);
    assert_eq!(post.hop_by_hop, 0b1100, "connection and te are dropped");
}

#[test]
fn cl_te_and_te_cl_go_to_hyper() {
    assert_eq!(
        refused(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"),
        Ineligible::TransferEncoding
    );
    assert_eq!(
        refused(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n"),
        Ineligible::TransferEncoding
    );
    // A space before the colon: httparse refuses the head (hyper answers 400).
    assert!(!parses(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n"
    ));
}

#[test]
fn every_doubtful_length_goes_to_hyper() {
    for value in [
        "4, 4",
        "+4",
        "-1",
        "04",
        "00",
        " 4x",
        "0x10",
        "1e3",
        "",
        "4 4",
        "1234567890123456789",
    ] {
        let raw = format!("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {value}\r\n\r\n");
        if parses(raw.as_bytes()) {
            assert_eq!(
                refused(raw.as_bytes()),
                Ineligible::ContentLength,
                "{value:?}"
            );
        }
    }
    assert_eq!(
        refused(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\n"),
        Ineligible::ContentLength
    );
    assert_eq!(
        verdict(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n")
            .unwrap()
            .content_length,
        0
    );
    assert_eq!(
        verdict(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 999999999999999999\r\n\r\n")
            .unwrap()
            .content_length,
        999_999_999_999_999_999
    );
}

#[test]
fn bare_lf_and_bare_cr_go_to_hyper_or_do_not_parse() {
    assert_eq!(
        refused(b"GET / HTTP/1.1\nHost: a\r\n\r\n"),
        Ineligible::LineEnding
    );
    assert_eq!(
        refused(b"GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n"),
        Ineligible::LineEnding
    );
    assert_eq!(
        refused(b"GET / HTTP/1.1\r\nHost: a\r\n\n"),
        Ineligible::LineEnding
    );
    // A CR inside a value, or a NUL: httparse refuses the head (and hyper answers 400).
    assert!(!parses(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n"));
    assert!(!parses(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n"));
}

#[test]
fn obs_fold_never_parses_here() {
    assert!(!parses(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n"));
    assert!(!parses(
        b"GET / HTTP/1.1\r\nHost: a\r\nx-origin-verify: a\r\n\tb\r\n\r\n"
    ));
}

#[test]
fn hosts_must_be_one_and_valid() {
    assert_eq!(refused(b"GET / HTTP/1.1\r\nX: y\r\n\r\n"), Ineligible::Host);
    assert_eq!(
        refused(b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"),
        Ineligible::Host
    );
    assert_eq!(
        refused(b"GET / HTTP/1.1\r\nHost:\r\n\r\n"),
        Ineligible::Host
    );
    for bad in ["a,b", "a b", "u@a", "a:x", "[zz]"] {
        let raw = format!("GET / HTTP/1.1\r\nHost: {bad}\r\n\r\n");
        assert_eq!(refused(raw.as_bytes()), Ineligible::Host, "{bad}");
    }
}

#[test]
fn other_versions_targets_and_methods_go_to_hyper() {
    assert_eq!(
        refused(b"GET / HTTP/1.0\r\nHost: a\r\n\r\n"),
        Ineligible::Version
    );
    assert_eq!(
        refused(b"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n"),
        Ineligible::Target
    );
    assert_eq!(
        refused(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"),
        Ineligible::Target
    );
    assert_eq!(
        refused(b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n"),
        Ineligible::Method
    );
    assert_eq!(
        refused(b"CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n"),
        Ineligible::Method
    );
    for target in ["/a#b", "/a\"b", "/{x}", "/a|b", "/\\", "/a^b", "/`"] {
        let raw = format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n");
        if parses(raw.as_bytes()) {
            assert_eq!(refused(raw.as_bytes()), Ineligible::Target, "{target}");
        }
    }
}

#[test]
fn interim_responses_and_switches_go_to_hyper() {
    assert_eq!(
        refused(b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n"),
        Ineligible::Expect
    );
    assert_eq!(
        refused(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"),
        Ineligible::Connection
    );
    assert_eq!(
        refused(b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\n\r\n"),
        Ineligible::Upgrade
    );
    assert_eq!(
        refused(b"GET / HTTP/1.1\r\nHost: a\r\nHTTP2-Settings: AAA\r\n\r\n"),
        Ineligible::Upgrade
    );
}

#[test]
fn a_connection_field_naming_a_field_goes_to_hyper() {
    for value in [
        "x-origin-verify",
        "close, host",
        "keep-alive,,close",
        "",
        "close x",
    ] {
        let raw = format!("GET / HTTP/1.1\r\nHost: a\r\nConnection: {value}\r\n\r\n");
        assert_eq!(refused(raw.as_bytes()), Ineligible::Connection, "{value:?}");
    }
    let ok =
        verdict(b"GET / HTTP/1.1\r\nHost: a\r\nConnection:  Keep-Alive ,CLOSE \r\n\r\n").unwrap();
    assert!(ok.close);
}

#[test]
fn hop_by_hop_bits_name_the_fields() {
    let ok = verdict(b"GET / HTTP/1.1\r\nKeep-Alive: 5\r\nHost: a\r\nProxy-Connection: x\r\nTrailer: y\r\nX: z\r\n\r\n").unwrap();
    assert_eq!(ok.hop_by_hop, 0b1101);
}

#[test]
fn obs_text_is_field_content_but_control_bytes_are_not() {
    assert!(verdict(b"GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\n\r\n").is_ok());
    for b in [1u8, 0x7f] {
        let mut raw = b"GET / HTTP/1.1\r\nHost: a\r\nX: a".to_vec();
        raw.push(b);
        raw.extend_from_slice(b"b\r\n\r\n");
        if parses(&raw) {
            assert_eq!(refused(&raw), Ineligible::FieldValue, "{b}");
        }
    }
}
