//! Helpers for the end-to-end tests: a real upstream on loopback, the real proxy binary
//! as a child process, and small HTTP clients (raw bytes, and keep-alive).
//!
//! Everything binds 127.0.0.1 port 0 (the OS picks); readiness is polled, never slept
//! for; every loop is bounded; every process started is killed on drop.

pub mod adopt;
pub mod client;
pub mod e2e;
pub mod edge;
pub mod emf;
pub mod estate;
pub mod fixture;
pub mod gate;
pub mod h2_frames;
pub mod lambda_runtime;
pub mod load;
pub mod moto;
pub mod proxy;
pub mod raw_app;
pub mod routes;
pub mod soak;
pub mod sts_denied;
pub mod tls;
pub mod upstream;
pub mod wire;
pub mod world;

use std::io::{BufRead, BufReader};
use std::process::Child;
use std::sync::{Arc, Mutex};
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

/// Collects a child's stdout and stderr, line by line, from background threads.
pub fn capture_output(child: &mut Child) -> Arc<Mutex<Vec<String>>> {
    capture_output_gated(child, Arc::default())
}

/// [`capture_output`], with stdout read only while `held` is false: a log driver that stops
/// draining the pipe (awslogs in blocking mode, CloudWatch Logs slow), so the process's
/// writes to stdout block once the pipe is full.
pub fn capture_output_gated(
    child: &mut Child,
    held: Arc<std::sync::atomic::AtomicBool>,
) -> Arc<Mutex<Vec<String>>> {
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let stdout = child
        .stdout
        .take()
        .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>);
    let stderr = child
        .stderr
        .take()
        .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>);
    for (pipe, gated) in [(stdout, true), (stderr, false)] {
        let Some(pipe) = pipe else { continue };
        let lines = lines.clone();
        let held = held.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
                // Ends with the process: its pipe closes, and the read above returns.
                while gated && held.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
            }
        });
    }
    lines
}

/// A loopback address where nothing listens (a port that was just free).
pub fn closed_port() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}
