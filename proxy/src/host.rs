//! What a valid `Host` value is: the one rule the walk over a request's fields
//! (`fields`) and the forwarding rules (`well_formed`) both apply.

/// `uri-host [ ":" port ]` (RFC 9110 §7.2, RFC 3986 §3.2.2), strictly: a reg-name of
/// unreserved characters, percent-encodings and the sub-delimiters other than `,` (so a
/// list of hosts is refused), or an IP literal in brackets; a port of digits. Empty is
/// valid (RFC 9112 §3.2: a target without authority).
pub fn host_ok(value: &[u8]) -> bool {
    let (host, port) = match value.first() {
        Some(b'[') => match value.iter().position(|&b| b == b']') {
            Some(end) => {
                let literal = &value[1..end];
                if literal.is_empty()
                    || !literal
                        .iter()
                        .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
                {
                    return false;
                }
                (&value[..0], &value[end + 1..])
            }
            None => return false,
        },
        _ => match value.iter().rposition(|&b| b == b':') {
            Some(colon) => (&value[..colon], &value[colon..]),
            None => (value, &value[value.len()..]),
        },
    };
    let port_ok = match port.split_first() {
        None => true,
        Some((b':', digits)) => digits.iter().all(u8::is_ascii_digit),
        Some(_) => false,
    };
    port_ok && host.iter().all(|&b| REG_NAME[usize::from(b)])
}

/// The bytes of a reg-name as [`host_ok`] takes it: unreserved, `%`, and the
/// sub-delimiters but `,` (one table lookup a byte: every forwarded request's `Host` passes
/// through here).
const REG_NAME: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'%'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b';'
                    | b'='
            );
        b += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_host_and_port_and_nothing_else() {
        for ok in [
            "",
            "app.example.com",
            "app.example.com:8443",
            "10.0.1.7:8080",
            "[::1]:8080",
            "[fe80::1]",
            "xn--bcher-kva.example",
            "a_b.internal",
            "app.example.com:",
        ] {
            assert!(host_ok(ok.as_bytes()), "{ok:?}");
        }
        for bad in [
            "a.example, b.example",
            "a.example,b.example",
            "user@a.example",
            "a example",
            "a.example:80:81",
            "a.example:8x",
            "[::1",
            "[]",
            "[::1]x",
            "a/b",
            "a\tb",
            "a?b",
            "a#b",
        ] {
            assert!(!host_ok(bad.as_bytes()), "{bad:?}");
        }
    }
}
