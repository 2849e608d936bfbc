//! What the requests of one client connection share, built in one place ([`ConnCtx::new`])
//! when the connection's protocol is known, and handed to the gate with each request:
//!
//! - its clock (`conn_clock`), which each request keeps busy until its response is sent;
//! - HTTP/1.1: its own upstream connection (`paired`), polled by the returned `Driver`
//!   beside the client connection; HTTP/2: its own set of them (`streams`);
//! - HTTP/1.1: the slot where an upgraded exchange is left for the connection task
//!   (`upgrade`).
//!
//! The gate may read these and nothing else of the connection.

use std::sync::Arc;

use crate::conn_clock::{BusyGuard, ConnClock};
use crate::forward::{Route, Upstream};
use crate::paired::{Driver, Paired};
use crate::streams::Streams;
use crate::upgrade;

#[derive(Debug)]
pub struct ConnCtx {
    clock: Arc<ConnClock>,
    paired: Option<Paired>,
    streams: Option<Streams>,
    upgrades: Option<upgrade::Slot>,
}

impl ConnCtx {
    /// The context of a new connection to be forwarded to `upstream`. The `Driver` must
    /// be polled for as long as the connection (and any tunnel) is served; on HTTP/2 it
    /// never has anything to poll.
    pub fn new(h2: bool, upstream: &Upstream) -> (Self, Driver) {
        let paired = (!h2).then(|| Paired::new(upstream.pool_idle_timeout(), upstream.timeout()));
        let driver = paired.as_ref().map_or_else(Driver::none, Paired::driver);
        let ctx = Self {
            clock: Arc::new(ConnClock::new(!h2)),
            paired,
            streams: h2.then(|| Streams::new(upstream.pool_idle_timeout())),
            upgrades: (!h2).then(upgrade::Slot::default),
        };
        (ctx, driver)
    }

    pub fn clock(&self) -> &Arc<ConnClock> {
        &self.clock
    }

    /// Marks a request in progress until the guard (held by its response body) drops.
    pub fn busy(&self) -> BusyGuard {
        BusyGuard::new(&self.clock)
    }

    /// Which upstream connection a request goes out on: on HTTP/2, the connection's own
    /// set; on HTTP/1.1, its own connection once it has earned one with its second
    /// keep-alive request (`keeps_alive`), else the pool.
    pub fn route(&self, keeps_alive: bool) -> Route<'_> {
        if let Some(streams) = &self.streams {
            return Route::Streams(streams);
        }
        match &self.paired {
            Some(paired) if keeps_alive && paired.count_keep_alive_request() => {
                Route::Paired(paired)
            }
            _ => Route::Pool,
        }
    }

    /// HTTP/1.1: where an upgraded exchange is left.
    pub fn upgrades(&self) -> Option<&upgrade::Slot> {
        self.upgrades.as_ref()
    }
}
