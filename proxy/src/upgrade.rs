//! `Upgrade` requests (WebSocket and others): after the header check, the request goes to
//! the app with its `Upgrade` intact; on `101 Switching Protocols` both sides' connections
//! are handed over and bytes are copied both ways until either side closes.

use std::sync::{Arc, Mutex};

use http::header::{CONNECTION, UPGRADE};
use http::{HeaderMap, HeaderValue};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

const UPGRADE_TOKEN: HeaderValue = HeaderValue::from_static("upgrade");

/// The two halves of an upgraded exchange, waiting for the connection to hand them over.
#[derive(Debug)]
pub struct Tunnel {
    pub client: OnUpgrade,
    pub upstream: OnUpgrade,
}

/// Where a request's handler leaves a tunnel for its connection task to run (HTTP/1.1
/// only); locked once per upgrade, never per ordinary request.
pub type Slot = Arc<Mutex<Option<Tunnel>>>;

/// The requested protocol, if this is an upgrade request (`Upgrade` named by `Connection`).
pub fn requested(headers: &HeaderMap) -> Option<HeaderValue> {
    let upgrade = headers.get(UPGRADE)?;
    let named = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    named.then(|| upgrade.clone())
}

/// Puts back the two fields that hop-by-hop removal took, for an upgrade.
pub fn restore(headers: &mut HeaderMap, protocol: HeaderValue) {
    headers.insert(CONNECTION, UPGRADE_TOKEN);
    headers.insert(UPGRADE, protocol);
}

/// Copies bytes both ways until either side closes. Returns (client→app, app→client).
pub async fn run(tunnel: Tunnel) -> std::io::Result<(u64, u64)> {
    let (client, upstream) =
        tokio::try_join!(tunnel.client, tunnel.upstream).map_err(std::io::Error::other)?;
    let mut client = TokioIo::new(client);
    let mut upstream = TokioIo::new(upstream);
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await
}
