//! The app's response heads, as raw bytes, against the relay rules.

use super::*;

fn parsed(raw: &[u8], head_request: bool, close: bool) -> (Parsed, String) {
    let mut out = Vec::new();
    let p = parse(raw, head_request, close, &mut out);
    (p, String::from_utf8(out).unwrap())
}

fn ready(raw: &[u8]) -> (Head, String) {
    match parsed(raw, false, false) {
        (Parsed::Ready(head), out) => (head, out),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_length_response_keeps_its_fields_and_loses_the_hop_by_hop_ones() {
    let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive, x-hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nX-App: y\r\n\r\nhello";
    let (head, out) = ready(raw);
    assert_eq!(head.framing, Framing::Length(5));
    assert_eq!(head.len, raw.len() - 5);
    assert!(!head.app_closes && !head.client_closes);
    assert_eq!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-App: y\r\n\r\n"
    );
}

#[test]
fn ambiguous_or_coded_framing_is_a_502() {
    for raw in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
    ] {
        assert_eq!(
            parsed(raw, false, false).0,
            Parsed::Unrelayable,
            "{}",
            String::from_utf8_lossy(raw)
        );
    }
}

#[test]
fn doubtful_lengths_and_heads_that_do_not_parse_are_a_502() {
    for raw in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n",
        // Response splitting and folding: httparse refuses the head.
        b"HTTP/1.1 200 OK\r\nX: a\rSet-Cookie: b\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX\0: a\r\n\r\n",
    ] {
        assert_eq!(
            parsed(raw, false, false).0,
            Parsed::Unparsable,
            "{}",
            String::from_utf8_lossy(raw)
        );
    }
}

#[test]
fn interim_responses_are_skipped() {
    let raw = b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\n";
    assert_eq!(parsed(raw, false, false).0, Parsed::Interim(40));
}

#[test]
fn bodiless_answers_have_no_body() {
    let (head, out) = ready(b"HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n");
    assert_eq!(head.framing, Framing::Empty);
    assert_eq!(out, "HTTP/1.1 204 No Content\r\n\r\n");
    let (head, out) = ready(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n");
    assert_eq!(head.framing, Framing::Empty);
    assert!(out.contains("Content-Length: 7"));
    match parsed(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        true,
        false,
    ) {
        (Parsed::Ready(head), out) => {
            assert_eq!(head.framing, Framing::Empty);
            assert!(!out.contains("chunked"), "{out}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn chunked_is_re_framed_and_a_close_delimited_body_closes_both_sides() {
    let (head, out) = ready(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked \r\n\r\n");
    assert_eq!(head.framing, Framing::Chunked);
    assert_eq!(out, "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n");
    let (head, out) = ready(b"HTTP/1.0 200 OK\r\nX: y\r\n\r\n");
    assert_eq!(head.framing, Framing::UntilClose);
    assert!(head.app_closes && head.client_closes);
    assert_eq!(out, "HTTP/1.1 200 OK\r\nX: y\r\nconnection: close\r\n\r\n");
}

#[test]
fn who_closes() {
    let (head, _) = ready(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    assert!(head.app_closes && !head.client_closes);
    let (head, _) = ready(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
    assert!(head.app_closes);
    let (head, _) =
        ready(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n");
    assert!(!head.app_closes);
    match parsed(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, true) {
        (Parsed::Ready(head), out) => {
            assert!(head.client_closes && !head.app_closes);
            assert!(out.ends_with("connection: close\r\n\r\n"), "{out}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_connection_token_cannot_remove_the_framing() {
    let (head, out) = ready(b"HTTP/1.1 200 OK\r\nConnection: content-length, host\r\nContent-Length: 2\r\nHost: a\r\n\r\n");
    assert_eq!(head.framing, Framing::Length(2));
    assert!(
        out.contains("Content-Length: 2") && out.contains("Host: a"),
        "{out}"
    );
}
