//! HTTP/2 by hand, for requests no HTTP/2 library would send: a HEADERS block without
//! `:path`, a repeated `content-length`, a `RST_STREAM(NO_ERROR)` in the middle of a body.
//!
//! Header blocks are HPACK literals without indexing and without Huffman coding (RFC 7541
//! §6.2.2), which every decoder must accept. The frames the server sends are parsed only
//! into type, flags, stream and payload: tests look for a `RST_STREAM` and its code, or a
//! `HEADERS` (a response: its fields are left encoded).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
pub const DATA: u8 = 0;
pub const HEADERS: u8 = 1;
pub const RST_STREAM: u8 = 3;
pub const SETTINGS: u8 = 4;
pub const PING: u8 = 6;
pub const GOAWAY: u8 = 7;
pub const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const ACK: u8 = 0x1;
pub const NO_ERROR: u32 = 0;
pub const PROTOCOL_ERROR: u32 = 1;
pub const CANCEL: u32 = 8;

/// One frame from the server.
#[derive(Debug, Clone)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

impl Frame {
    /// A `RST_STREAM`'s or `GOAWAY`'s error code.
    pub fn code(&self) -> Option<u32> {
        let at = match self.kind {
            RST_STREAM => 0,
            GOAWAY => 4,
            _ => return None,
        };
        let b = self.payload.get(at..at + 4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// A client connection with prior knowledge (h2c): frames go out as given, frames that
/// come in are kept; the server's SETTINGS and PINGs are acknowledged.
#[derive(Debug)]
pub struct Conn {
    out: mpsc::UnboundedSender<Vec<u8>>,
    frames: Arc<Mutex<Vec<Frame>>>,
    closed: Arc<Mutex<bool>>,
}

impl Conn {
    pub async fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let (mut read, mut write) = stream.into_split();
        let (out, mut queue) = mpsc::unbounded_channel::<Vec<u8>>();
        tokio::spawn(async move {
            while let Some(bytes) = queue.recv().await {
                if write.write_all(&bytes).await.is_err() {
                    return;
                }
            }
        });
        let frames: Arc<Mutex<Vec<Frame>>> = Arc::default();
        let closed: Arc<Mutex<bool>> = Arc::default();
        let (kept, ended, acks) = (frames.clone(), closed.clone(), out.clone());
        tokio::spawn(async move {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 16384];
            loop {
                while buf.len() >= 9 {
                    let len = u32::from_be_bytes([0, buf[0], buf[1], buf[2]]) as usize;
                    if buf.len() < 9 + len {
                        break;
                    }
                    let frame = Frame {
                        kind: buf[3],
                        flags: buf[4],
                        stream: u32::from_be_bytes([buf[5], buf[6], buf[7], buf[8]]) & 0x7fff_ffff,
                        payload: buf[9..9 + len].to_vec(),
                    };
                    buf.drain(..9 + len);
                    if frame.kind == SETTINGS && frame.flags & ACK == 0 {
                        let _ = acks.send(frame_bytes(SETTINGS, ACK, 0, &[]));
                    }
                    if frame.kind == PING && frame.flags & ACK == 0 {
                        let _ = acks.send(frame_bytes(PING, ACK, 0, &frame.payload));
                    }
                    kept.lock().unwrap().push(frame);
                }
                match read.read(&mut chunk).await {
                    Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                    _ => {
                        *ended.lock().unwrap() = true;
                        return;
                    }
                }
            }
        });
        let mut start = PREFACE.to_vec();
        start.extend(frame_bytes(SETTINGS, 0, 0, &[]));
        out.send(start).unwrap();
        Self {
            out,
            frames,
            closed,
        }
    }

    /// A HEADERS frame with these fields, in order (pseudo-fields included).
    pub fn headers(&self, stream: u32, fields: &[(&str, &str)], end_stream: bool) {
        let flags = END_HEADERS | if end_stream { END_STREAM } else { 0 };
        self.send(frame_bytes(HEADERS, flags, stream, &block(fields)));
    }

    pub fn data(&self, stream: u32, bytes: &[u8], end_stream: bool) {
        let flags = if end_stream { END_STREAM } else { 0 };
        self.send(frame_bytes(DATA, flags, stream, bytes));
    }

    pub fn reset(&self, stream: u32, code: u32) {
        self.send(frame_bytes(RST_STREAM, 0, stream, &code.to_be_bytes()));
    }

    fn send(&self, bytes: Vec<u8>) {
        self.out.send(bytes).expect("connection open");
    }

    /// Waits (at most 10 s) for the first frame on `stream` that ends or answers it: a
    /// `RST_STREAM`, or a `HEADERS` (a response). Panics if the connection ends first.
    pub async fn answer(&self, stream: u32) -> Frame {
        crate::poll(
            Duration::from_secs(10),
            &format!("an answer on stream {stream}"),
            || {
                let found = self
                    .frames
                    .lock()
                    .unwrap()
                    .iter()
                    .find(|f| f.stream == stream && (f.kind == RST_STREAM || f.kind == HEADERS))
                    .cloned();
                if found.is_none() && *self.closed.lock().unwrap() {
                    panic!(
                        "the connection closed before stream {stream} was answered: {:?}",
                        self.frames.lock().unwrap()
                    );
                }
                std::future::ready(found)
            },
        )
        .await
    }

    /// The server has closed the connection.
    pub fn is_closed(&self) -> bool {
        *self.closed.lock().unwrap()
    }

    /// Every frame received so far.
    pub fn frames(&self) -> Vec<Frame> {
        self.frames.lock().unwrap().clone()
    }
}

fn frame_bytes(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = len.to_be_bytes()[1..].to_vec();
    f.push(kind);
    f.push(flags);
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An HPACK block of literals without indexing, new names, no Huffman.
pub fn block(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields {
        out.push(0x00);
        integer(&mut out, name.len(), 7, 0);
        out.extend_from_slice(name.as_bytes());
        integer(&mut out, value.len(), 7, 0);
        out.extend_from_slice(value.as_bytes());
    }
    out
}

/// RFC 7541 §5.1.
fn integer(out: &mut Vec<u8>, mut value: usize, prefix_bits: u32, first: u8) {
    let max = (1usize << prefix_bits) - 1;
    if value < max {
        out.push(first | value as u8);
        return;
    }
    out.push(first | max as u8);
    value -= max;
    while value >= 128 {
        out.push((value % 128) as u8 | 0x80);
        value /= 128;
    }
    out.push(value as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_follow_rfc_7541_examples() {
        // C.1.1: 10 with a 5-bit prefix; C.1.2: 1337 with a 5-bit prefix.
        let mut out = Vec::new();
        integer(&mut out, 10, 5, 0);
        assert_eq!(out, [10]);
        let mut out = Vec::new();
        integer(&mut out, 1337, 5, 0);
        assert_eq!(out, [31, 154, 10]);
    }
}
