//! The proxy as the end-to-end fuzz targets serve it: the binary's own stack
//! (`app::Stack`) on a loopback listener, with one accepted value.

use std::net::SocketAddr;
use std::sync::Arc;

use edgeguard_proxy::app::Stack;
use edgeguard_proxy::auth::{AcceptedSet, AcceptedValue, Secret};
use edgeguard_proxy::config;
use edgeguard_proxy::gate::ListenerKind;
use tokio::net::TcpListener;

/// The one accepted value.
pub const SECRET: &str = "kq3Zr0c1T9xW5yPp8N2bVfLmHs7Ud4Ea6GoJiRtYeQw";

/// The runtime a target's stage lives on for the whole fuzzing run: two workers, so the
/// proxy, the app and the target's client run side by side as in production.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Which HTTP/1.1 path a target's proxy serves on when its arguments do not say:
/// `EDGEGUARD_FUZZ_H1_FAST_PATH=on|off` (scripts/fuzz runs the end-to-end targets on
/// both), `off` (hyper's) by default.
pub fn fast_path() -> String {
    std::env::var("EDGEGUARD_FUZZ_H1_FAST_PATH").unwrap_or_else(|_| "off".into())
}

/// Serves an enforcing listener in front of `upstream` (`http://…`), configured by the
/// binary's own parser with `args` besides the upstream and the (unused) secret source,
/// and [`SECRET`] accepted; on the HTTP/1.1 path [`fast_path`] names unless `args` choose.
/// Returns the listener's address.
pub async fn serve(upstream: &str, args: &[&str]) -> SocketAddr {
    let mut all = vec!["--upstream", upstream, "--secret-source", "env:EDGEGUARD_FUZZ_UNUSED"];
    all.extend_from_slice(args);
    let fast = fast_path();
    if !args.contains(&"--h1-fast-path") {
        all.extend_from_slice(&["--h1-fast-path", &fast]);
    }
    let config = config::from_args(&all).unwrap();
    let set = AcceptedSet::new(vec![AcceptedValue::new(
        "current".into(),
        "v1".into(),
        Secret::new(SECRET.as_bytes()).unwrap(),
        Arc::default(),
    )])
    .unwrap();
    let stack = Stack::new(&config);
    stack.state.accepted.store(Some(Arc::new(set)));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    stack.serve(ListenerKind::Enforcing, listener, None);
    addr
}
