//! The fast path's connection loop: a head, a decision, an exchange (or a fixed answer),
//! and again, until the connection closes or a request comes that is not for the fast
//! path, which hyper then serves with the bytes already read.

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use std::sync::Arc;

use crate::conn::ConnCtx;
use crate::gate::{self, Gate, Outcome};

use super::exchange::{Failed, Sides, exchange};
use super::pool::Pool;
use super::request::{self, Action, Parsed, Plan};

/// How the fast path left a connection.
#[derive(Debug)]
pub enum Ended {
    /// Closed (by either side, or for the drain).
    Closed,
    /// The next request is hyper's: these bytes (its head, perhaps more) come first.
    Hyper(Vec<u8>),
}

/// Serves `client`'s requests while they are eligible. The caller keeps the idle and
/// head-read deadlines (`conn_clock`, as for hyper); the busy mark spans each request.
pub async fn serve<C>(
    client: &mut C,
    gate: &Gate,
    pool: &Arc<Pool>,
    conn: &ConnCtx,
    max_head: usize,
    shutdown: &CancellationToken,
) -> Ended
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    let mut sides = Sides::new(gate.upstream());
    let max_idle = gate.upstream().pool_idle_timeout();
    let (metrics, listener) = (&gate.state().metrics, gate.listener());
    loop {
        let plan = loop {
            if !sides.client_buf.is_empty() {
                match request::plan(sides.client_buf.bytes(), max_head, gate, &mut sides.out) {
                    Parsed::Ready(plan) => break plan,
                    Parsed::Hyper(why) => {
                        tracing::debug!(?why, "request served by hyper");
                        metrics.h1_handover(listener);
                        return Ended::Hyper(std::mem::take(&mut sides.client_buf).into_rest());
                    }
                    Parsed::Partial => {}
                }
            }
            let idle = sides.client_buf.is_empty();
            if idle {
                // Draining: an idle connection closes at once.
                if shutdown.is_cancelled() {
                    return Ended::Closed;
                }
                sides.release();
            }
            // An own app connection unused for the idle limit closes while the client
            // connection waits (hyper's path: `paired::Driver`).
            let app_idle = sides.app.as_ref().map(|app| app.idle_deadline(max_idle));
            let read = tokio::select! {
                read = sides.client_buf.fill(client) => read,
                _ = shutdown.cancelled(), if idle => return Ended::Closed,
                () = sides.timer.until(app_idle.unwrap_or_else(Instant::now)), if idle && app_idle.is_some() => {
                    tracing::debug!("closing an idle upstream connection");
                    sides.app = None;
                    continue;
                }
            };
            if !matches!(read, Ok(n) if n > 0) {
                return Ended::Closed;
            }
        };
        let start = Instant::now();
        let busy = conn.busy();
        sides.client_buf.consume(plan.head_len);
        // The duration is to the response head, as on hyper's path.
        let mut head_at = None;
        let (outcome, keep) = match plan.action {
            Action::Forward(outcome) => {
                let upstream = gate.upstream();
                match exchange(client, &mut sides, &plan, upstream, pool, shutdown).await {
                    Ok((keep, at)) => {
                        head_at = Some(at);
                        (outcome, keep)
                    }
                    Err(Failed::Before(failure, body_read)) => {
                        metrics.upstream_error(failure);
                        let (status, text) = gate::failure_answer(failure);
                        let answer = Answer { status, text };
                        let keep = answer.send(client, &mut sides.out, &plan, body_read, shutdown);
                        (outcome, keep.await)
                    }
                    Err(Failed::Abort) => (outcome, false),
                }
            }
            Action::Reject | Action::Unavailable => {
                let (outcome, status, text) = match plan.action {
                    Action::Reject => (Outcome::Rejected, 403, gate::FORBIDDEN),
                    _ => (Outcome::Unavailable, 503, gate::UNAVAILABLE),
                };
                // A body already here is skipped; one still to come would have to be read
                // to find the next request: the connection ends instead (hyper does too).
                let body = plan.request.content_length;
                let here = sides.client_buf.len() as u64 >= body;
                if here {
                    sides.client_buf.consume(body as usize);
                }
                let answer = Answer { status, text };
                let keep = answer.send(client, &mut sides.out, &plan, here, shutdown);
                (outcome, keep.await)
            }
        };
        let elapsed = head_at.unwrap_or_else(Instant::now).duration_since(start);
        metrics.request(listener, outcome, elapsed);
        drop(busy);
        if !keep {
            let _ = client.shutdown().await;
            return Ended::Closed;
        }
    }
}

/// A fixed plain-text answer of the proxy's own (`gate`'s texts).
struct Answer {
    status: u16,
    text: &'static str,
}

impl Answer {
    /// Sends it; to HEAD, its head alone (RFC 9110 §9.3.2), with the length the body would
    /// have. The connection ends after it when the request's body was not read whole
    /// (`body_read`: its end, and so the next request, is unknown), the client asked, or the
    /// proxy is draining. True when the connection goes on.
    async fn send<C: AsyncWrite + Unpin>(
        self,
        client: &mut C,
        out: &mut Vec<u8>,
        plan: &Plan,
        body_read: bool,
        shutdown: &CancellationToken,
    ) -> bool {
        let close = !body_read || plan.request.close || shutdown.is_cancelled();
        out.clear();
        out.extend_from_slice(match self.status {
            403 => b"HTTP/1.1 403 Forbidden\r\n".as_slice(),
            502 => b"HTTP/1.1 502 Bad Gateway\r\n",
            503 => b"HTTP/1.1 503 Service Unavailable\r\n",
            _ => b"HTTP/1.1 504 Gateway Timeout\r\n",
        });
        out.extend_from_slice(b"content-type: text/plain; charset=utf-8\r\ncontent-length: ");
        push_decimal(out, self.text.len());
        out.extend_from_slice(b"\r\n");
        if close {
            out.extend_from_slice(b"connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if !plan.head_method {
            out.extend_from_slice(self.text.as_bytes());
        }
        client.write_all(out).await.is_ok() && !close
    }
}

/// `n` in decimal, without an allocation.
fn push_decimal(out: &mut Vec<u8>, n: usize) {
    if n >= 10 {
        push_decimal(out, n / 10);
    }
    out.push(b'0' + (n % 10) as u8);
}
