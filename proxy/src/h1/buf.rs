//! A read buffer: bytes received and not yet used, read into in place.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};

/// Bytes `start..end` of `data` are received and unused.
#[derive(Default)]
pub(super) struct Buf {
    data: Vec<u8>,
    start: usize,
    end: usize,
}

/// Lengths only: the bytes are a request's, the secret's field included.
impl std::fmt::Debug for Buf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Buf")
            .field("held", &self.len())
            .field("capacity", &self.data.len())
            .finish()
    }
}

impl Buf {
    /// What a connection starts with: a common request head fits, and an idle one gives
    /// it back (`release`).
    pub(super) const INITIAL: usize = 4096;

    pub(super) fn bytes(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    pub(super) fn len(&self) -> usize {
        self.end - self.start
    }

    pub(super) fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Marks the first `n` bytes used.
    pub(super) fn consume(&mut self, n: usize) {
        self.start += n.min(self.len());
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Frees the memory of an empty buffer that grew beyond [`Buf::INITIAL`] (a large
    /// head or body): an idle connection keeps at most that.
    pub(super) fn release(&mut self) {
        if self.is_empty() && self.data.len() > Self::INITIAL {
            self.data = Vec::new();
        }
    }

    /// Reads once from `io` after the bytes held; the number read (0: end of stream). Makes
    /// room first: moves the held bytes to the front, or doubles the buffer when full.
    pub(super) async fn fill<R: AsyncRead + Unpin>(&mut self, io: &mut R) -> io::Result<usize> {
        if self.end == self.data.len() {
            if self.start > 0 {
                self.data.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                let size = (self.data.len() * 2).max(Self::INITIAL);
                self.data.resize(size, 0);
            }
        }
        let n = io.read(&mut self.data[self.end..]).await?;
        self.end += n;
        Ok(n)
    }

    /// The bytes held, for whoever reads the stream next.
    pub(super) fn into_rest(mut self) -> Vec<u8> {
        self.data.truncate(self.end);
        self.data.drain(..self.start);
        self.data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bytes_survive_compaction_growth_and_hand_over() {
        let input: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        let mut reader = &input[..];
        let mut buf = Buf::default();
        let mut seen = Vec::new();
        while buf.fill(&mut reader).await.unwrap() > 0 {
            // Use a third of what is held each time, so compaction and growth both happen.
            let n = buf.len() / 3;
            seen.extend_from_slice(&buf.bytes()[..n]);
            buf.consume(n);
        }
        seen.extend(buf.into_rest());
        assert_eq!(seen, input);
    }

    #[test]
    fn debug_shows_lengths_never_bytes() {
        let secret = b"kq3Zr0c1T9xW5yPp8N2bVfLmHs7Ud4Ea6GoJiRtYeQw";
        let buf = Buf {
            data: secret.to_vec(),
            start: 0,
            end: secret.len(),
        };
        let shown = format!("{buf:?}");
        assert_eq!(shown, "Buf { held: 43, capacity: 43 }");
    }

    #[test]
    fn an_empty_grown_buffer_releases_its_memory() {
        let mut buf = Buf {
            data: vec![0; 2 * Buf::INITIAL],
            start: 0,
            end: 3,
        };
        buf.release();
        assert_eq!(buf.data.len(), 2 * Buf::INITIAL, "it holds bytes");
        buf.consume(3);
        buf.release();
        assert_eq!(buf.data.capacity(), 0);
        let mut small = Buf {
            data: vec![0; Buf::INITIAL],
            start: 0,
            end: 0,
        };
        small.release();
        assert_eq!(
            small.data.len(),
            Buf::INITIAL,
            "kept: no allocation per request"
        );
    }
}
