//! The HTTP/1.1 fast path: the proxy's own HTTP/1.1 for the common request, hyper for
//! everything else (`--h1-fast-path on|off`).
//!
//! hyper's general server and client cost a forwarded request two parses, two encodes, two
//! header maps and the dispatch between them (docs/performance.md). A sidecar's traffic is
//! nearly all one shape: a keep-alive HTTP/1.1 request with a length-delimited body or
//! none. For that shape, the connection's own task parses the head with httparse (the
//! parser hyper uses), decides with the gate's rules and the same `auth` code, writes the
//! head for the app from the parsed fields (less the secret's and the hop-by-hop ones),
//! relays the body by its length over a connection to the app of its own, and relays the
//! response by its framing.
//!
//! - `eligible`: which requests: the rule, strict; anything else is hyper's.
//! - `request`: one head: parse, rule, decision, the app's head.
//! - `response`: the app's head: framing, what goes on, the client's head.
//! - `exchange`: one forwarded exchange and its bodies; `app_conn` its connection, the
//!   client connection's own from its second keep-alive request, before that one of the
//!   shared `pool`'s (as on hyper's path: `paired`); `app_timer` its deadlines.
//! - `serve`: the connection loop, and the hand-over to hyper with the bytes already read
//!   (`replay`), so a client is never refused for being unusual.
//!
//! Report mode always takes hyper's path (`app::Stack`): what it logs of a request is
//! read from hyper's request.

mod app_conn;
mod app_timer;
mod buf;
pub mod eligible;
mod exchange;
mod pool;
pub mod request;
pub mod response;
mod serve;

pub use pool::Pool;
pub use serve::{Ended, serve};
