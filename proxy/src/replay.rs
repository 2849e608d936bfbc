//! An IO stream that first gives back bytes already read from it: how the HTTP/1.1 fast
//! path hands a connection to hyper (`h1`). An empty one costs nothing.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

#[derive(Debug)]
pub(crate) struct Replayed<T> {
    rest: Vec<u8>,
    at: usize,
    inner: T,
}

impl<T> Replayed<T> {
    pub(crate) fn new(rest: Vec<u8>, inner: T) -> Self {
        Self { rest, at: 0, inner }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Replayed<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.at < self.rest.len() {
            let n = (self.rest.len() - self.at).min(buf.remaining());
            let at = self.at;
            buf.put_slice(&self.rest[at..at + n]);
            self.at += n;
            if self.at == self.rest.len() {
                // Replayed: the memory goes back now, not when the connection ends.
                self.rest = Vec::new();
                self.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

crate::io_wrap::forward_writes!(Replayed);

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn the_bytes_read_come_first_then_the_stream() {
        let mut r = Replayed::new(b"GET / HT".to_vec(), &b"TP/1.1\r\n\r\n"[..]);
        let mut all = Vec::new();
        r.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, b"GET / HTTP/1.1\r\n\r\n");
    }
}
