//! HTTP/1.1 read off the wire by hand, for the tests' raw peers (`raw_app`, `routes`): a
//! field of a head, and a chunked body.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

/// The value of the first field named `name` (any case) in a head: a start line, then
/// `name: value` lines separated by CRLF.
pub fn field(head: &str, name: &str) -> Option<String> {
    head.split("\r\n").skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}

/// Reads more bytes into `buf`; false at the end of the connection (or after 20 s idle).
pub async fn fill<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 8192];
    match tokio::time::timeout(Duration::from_secs(20), stream.read(&mut chunk)).await {
        Ok(Ok(n)) if n > 0 => {
            buf.extend_from_slice(&chunk[..n]);
            true
        }
        _ => false,
    }
}

/// A chunked body at the start of `buf` (read further from `stream`), decoded and taken
/// out of `buf`; complete when its last chunk and its trailer section arrived, false when
/// the connection ended first or a size line is not hexadecimal.
pub async fn read_chunked<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
) -> (Vec<u8>, bool) {
    let mut body = Vec::new();
    loop {
        let Some(size_line) = line(stream, buf).await else {
            return (body, false);
        };
        let text = String::from_utf8_lossy(&size_line).into_owned();
        let Ok(size) = usize::from_str_radix(text.split(';').next().unwrap_or("").trim(), 16)
        else {
            return (body, false);
        };
        if size == 0 {
            // The trailer section ends with an empty line.
            loop {
                match line(stream, buf).await {
                    Some(l) if l.is_empty() => return (body, true),
                    Some(_) => continue,
                    None => return (body, false),
                }
            }
        }
        while buf.len() < size + 2 {
            if !fill(stream, buf).await {
                body.extend_from_slice(&buf[..size.min(buf.len())]);
                return (body, false);
            }
        }
        body.extend_from_slice(&buf[..size]);
        buf.drain(..size + 2);
    }
}

/// The next CRLF-ended line of `buf`, without its CRLF; `None` if the connection ends first.
async fn line<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    loop {
        if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
            let line = buf[..i].to_vec();
            buf.drain(..i + 2);
            return Some(line);
        }
        if !fill(stream, buf).await {
            return None;
        }
    }
}
