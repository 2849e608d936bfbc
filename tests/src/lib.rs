//! Helpers for the end-to-end tests: a real upstream on loopback, the real proxy binary
//! as a child process, and small HTTP clients (raw bytes, and keep-alive).
//!
//! Everything binds 127.0.0.1 port 0 (the OS picks); readiness is polled, never slept
//! for; every loop is bounded; every process started is killed on drop.

pub mod client;
pub mod fixture;
pub mod moto;
pub mod proxy;
pub mod tls;
pub mod upstream;

use std::time::{Duration, Instant};

/// Polls `check` every 20 ms until it returns `Some`, for at most `limit`.
pub async fn poll<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A value like the ones the rotation generates: 43 characters of base64url.
pub fn secret_like(tag: char) -> String {
    let mut s: String = std::iter::repeat_n(tag, 10).collect();
    s.push_str("-0123456789_abcdefghijklmnopqrstu");
    assert_eq!(s.len(), 43);
    s
}
