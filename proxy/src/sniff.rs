//! Telling HTTP/2 with prior knowledge (h2c) from HTTP/1.1 on a plain TCP connection, and
//! giving the bytes read back to whichever protocol serves it.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};
use tokio::time::Instant;

/// The client connection preface of RFC 9113 §3.4.
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Reads until the bytes differ from the HTTP/2 preface (HTTP/1.1: usually the first byte)
/// or complete it. Returns the connection with those bytes to be read again, and whether
/// it is HTTP/2. The first byte may take `first_byte` (an idle connection); the whole
/// preface must then arrive within `rest` of it (like any request head): one deadline,
/// not one per read, so a preface sent a byte at a time cannot hold the connection
/// longer. `TimedOut` beyond.
pub async fn sniff<T: AsyncRead + Unpin>(
    mut io: T,
    first_byte: Duration,
    rest: Duration,
) -> io::Result<(Prefixed<T>, bool)> {
    let mut buf = [0u8; 24];
    let mut n = 0;
    let mut deadline = Instant::now() + first_byte;
    let h2 = loop {
        let read = tokio::time::timeout_at(deadline, io.read(&mut buf[n..]))
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
        if n == 0 {
            deadline = Instant::now() + rest;
        }
        n += read;
        if read == 0 || buf[..n] != PREFACE[..n] {
            break false;
        }
        if n == PREFACE.len() {
            break true;
        }
    };
    Ok((
        Prefixed {
            prefix: buf,
            start: 0,
            end: n,
            inner: io,
        },
        h2,
    ))
}

/// An IO stream that first replays up to 24 bytes already read from it. No allocation.
#[derive(Debug)]
pub struct Prefixed<T> {
    prefix: [u8; 24],
    start: usize,
    end: usize,
    inner: T,
}

impl<T: AsyncRead + Unpin> AsyncRead for Prefixed<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.start < self.end {
            let n = (self.end - self.start).min(buf.remaining());
            let start = self.start;
            buf.put_slice(&self.prefix[start..start + n]);
            self.start += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

crate::io_wrap::forward_writes!(Prefixed);

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(5);

    async fn sniffed(input: &[u8]) -> (bool, Vec<u8>) {
        let (prefixed, h2) = sniff(input, T, T).await.unwrap();
        let mut all = Vec::new();
        let mut prefixed = prefixed;
        prefixed.read_to_end(&mut all).await.unwrap();
        (h2, all)
    }

    #[tokio::test]
    async fn http1_is_told_apart_and_no_byte_is_lost() {
        let req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(sniffed(req).await, (false, req.to_vec()));
        // A request line that starts like the preface.
        let pri = b"PRI /x HTTP/1.1\r\n\r\n";
        assert_eq!(sniffed(pri).await, (false, pri.to_vec()));
    }

    #[tokio::test]
    async fn the_h2_preface_is_recognised_and_replayed() {
        let mut input = PREFACE.to_vec();
        input.extend_from_slice(b"\x00\x00\x00\x04\x00\x00\x00\x00\x00");
        assert_eq!(sniffed(&input).await, (true, input.clone()));
    }

    #[tokio::test]
    async fn an_early_close_is_not_an_error() {
        assert_eq!(sniffed(b"PRI").await, (false, b"PRI".to_vec()));
        assert_eq!(sniffed(b"").await, (false, Vec::new()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_preface_sent_slowly_times_out_at_the_head_limit() {
        let (client, server) = tokio::io::duplex(64);
        let mut client = client;
        tokio::io::AsyncWriteExt::write_all(&mut client, b"PRI * HTTP")
            .await
            .unwrap();
        let start = tokio::time::Instant::now();
        let result = sniff(server, Duration::from_secs(75), Duration::from_secs(10)).await;
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::TimedOut);
        assert_eq!(start.elapsed(), Duration::from_secs(10));
        drop(client);
    }

    #[tokio::test(start_paused = true)]
    async fn a_preface_dripped_a_byte_at_a_time_gets_one_deadline_not_one_per_byte() {
        let (mut client, server) = tokio::io::duplex(64);
        let start = tokio::time::Instant::now();
        let drip = tokio::spawn(async move {
            for b in PREFACE.iter() {
                if tokio::io::AsyncWriteExt::write_all(&mut client, &[*b])
                    .await
                    .is_err()
                {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(9)).await;
            }
        });
        let result = sniff(server, Duration::from_secs(75), Duration::from_secs(10)).await;
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::TimedOut);
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(10),
            "10 s from the first byte"
        );
        drip.abort();
    }
}
