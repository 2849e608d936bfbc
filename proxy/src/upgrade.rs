//! `Upgrade` requests (WebSocket and others), all of it: after the header check, the
//! request goes to the app with its `Upgrade` intact; on `101 Switching Protocols` both
//! sides' connections are handed over and bytes are copied both ways until either side
//! closes. HTTP/1.1 only: HTTP/2 has no `Upgrade`.
//!
//! The gate calls [`Pending::take`] before forwarding and [`Pending::restore`] after the
//! hop-by-hop removal; the forwarder keeps a 101's fields (`relay::prepare`); the
//! gate leaves the tunnel in the connection's [`Slot`] with [`Pending::complete`]; the
//! connection task runs it with [`run_left`] once hyper has let go of the connection.

use std::sync::{Arc, Mutex};

use http::header::{CONNECTION, UPGRADE};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use crate::fields::Fields;
use crate::relay::restore_upgrade;

/// The two halves of an upgraded exchange, waiting for the connection to hand them over.
#[derive(Debug)]
struct Tunnel {
    client: OnUpgrade,
    upstream: OnUpgrade,
}

/// Where a request's handler leaves a tunnel for its connection task to run (HTTP/1.1
/// only); locked once per upgrade, never per ordinary request.
#[derive(Debug, Clone, Default)]
pub struct Slot(Arc<Mutex<Option<Tunnel>>>);

/// An upgrade request on its way to the app: the protocol asked for, and the client's
/// half of the connection, handed over if the app answers 101.
#[derive(Debug)]
pub struct Pending {
    protocol: HeaderValue,
    client: OnUpgrade,
}

impl Pending {
    /// `Some` if `req` (whose fields are `fields`) asks for an upgrade (`Upgrade`,
    /// named by `Connection`).
    pub fn take<B>(req: &mut Request<B>, fields: &Fields) -> Option<Self> {
        if !fields.has_upgrade() {
            return None;
        }
        let protocol = requested(req.headers())?;
        Some(Self {
            protocol,
            client: hyper::upgrade::on(req),
        })
    }

    /// Puts back the two fields that hop-by-hop removal took from the request.
    pub fn restore(&self, headers: &mut HeaderMap) {
        restore_upgrade(headers, self.protocol.clone());
    }

    /// If the app switched protocols, leaves both halves in `slot` for the connection
    /// task; otherwise the request was an ordinary one and nothing is left.
    pub fn complete(self, response: &mut Response<Incoming>, slot: &Slot) {
        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            let upstream = hyper::upgrade::on(response);
            *slot.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(Tunnel {
                client: self.client,
                upstream,
            });
        }
    }
}

/// The requested protocol, if this is an upgrade request (`Upgrade` named by `Connection`).
fn requested(headers: &HeaderMap) -> Option<HeaderValue> {
    let upgrade = headers.get(UPGRADE)?;
    let named = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    named.then(|| upgrade.clone())
}

/// Runs the tunnel a request left in `slot`, if any: copies bytes both ways until either
/// side closes. `None` when there was none; else (client→app, app→client) bytes.
pub async fn run_left(slot: &Slot) -> Option<std::io::Result<(u64, u64)>> {
    let tunnel = slot.0.lock().unwrap_or_else(|e| e.into_inner()).take()?;
    Some(run(tunnel).await)
}

async fn run(tunnel: Tunnel) -> std::io::Result<(u64, u64)> {
    let (client, upstream) =
        tokio::try_join!(tunnel.client, tunnel.upstream).map_err(std::io::Error::other)?;
    let mut client = TokioIo::new(client);
    let mut upstream = TokioIo::new(upstream);
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn an_upgrade_is_requested_only_when_connection_names_it() {
        let ws = HeaderValue::from_static("websocket");
        assert_eq!(
            requested(&headers(&[
                ("upgrade", "websocket"),
                ("connection", "Upgrade")
            ])),
            Some(ws.clone())
        );
        assert_eq!(
            requested(&headers(&[
                ("upgrade", "websocket"),
                ("connection", "keep-alive"),
                ("connection", "x, upgrade ")
            ])),
            Some(ws)
        );
        // `Upgrade` alone is a hop-by-hop field the client forgot to name: not an upgrade.
        assert_eq!(requested(&headers(&[("upgrade", "websocket")])), None);
        assert_eq!(requested(&headers(&[("connection", "upgrade")])), None);
    }
}
