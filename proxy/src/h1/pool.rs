//! The fast path's shared app connections, for what the shared pool carries on hyper's
//! path (`paired`): a connection's first request and one-shot (`Connection: close`)
//! requests. A client that opens a connection per request, or opens one and walks away,
//! does not cost the app a connection of its own; a keep-alive connection earns one with
//! its second request.
//!
//! A mutex around a stack: taken only by those requests (a keep-alive connection's later
//! ones never touch it), and never across an `.await`. Connections unused for
//! `--upstream-pool-idle-timeout` are closed by a sweeper task, started with the first
//! connection put back and ended with the pool.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use super::app_conn::AppConn;

#[derive(Debug)]
pub struct Pool {
    idle: Mutex<Vec<AppConn>>,
    max_idle: Duration,
    sweeping: AtomicBool,
}

impl Pool {
    pub fn new(max_idle: Duration) -> Self {
        Self {
            idle: Mutex::default(),
            max_idle,
            sweeping: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<AppConn>> {
        // Every change is a push, a pop or a retain: a panic cannot leave it half-changed.
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The most recently used idle connection that can carry another exchange.
    pub(super) fn take(&self) -> Option<AppConn> {
        let mut idle = self.lock();
        while let Some(mut conn) = idle.pop() {
            if conn.reusable(self.max_idle) {
                return Some(conn);
            }
        }
        None
    }

    /// Keeps `conn` for another request.
    pub(super) fn put(self: &Arc<Self>, conn: AppConn) {
        self.lock().push(conn);
        if !self.sweeping.swap(true, Ordering::Relaxed) {
            tokio::spawn(sweep(Arc::downgrade(self), self.max_idle));
        }
    }

    #[cfg(test)]
    fn idle(&self) -> usize {
        self.lock().len()
    }
}

/// Closes the connections unused for `max_idle`, looking every half of it, for as long
/// as the pool lives.
async fn sweep(pool: Weak<Pool>, max_idle: Duration) {
    let every = (max_idle / 2).max(Duration::from_millis(10));
    loop {
        tokio::time::sleep(every).await;
        let Some(pool) = pool.upgrade() else { return };
        pool.lock().retain(|conn| conn.unused_for() < max_idle);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forward::{Upstream, UpstreamConfig};

    #[tokio::test(start_paused = true)]
    async fn idle_connections_are_closed_after_the_limit() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let upstream = Upstream::new(&UpstreamConfig {
            scheme: http::uri::Scheme::HTTP,
            authority: addr.to_string().parse().unwrap(),
            target: crate::connect::Target::Tcp,
            connect_timeout: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            pool_idle_timeout: Duration::from_secs(4),
        });
        let accept = tokio::spawn(async move {
            let (io, _) = listener.accept().await.unwrap();
            io
        });
        let pool = Arc::new(Pool::new(Duration::from_secs(4)));
        pool.put(AppConn::open(&upstream).await.unwrap());
        let _app_side = accept.await.unwrap();
        assert_eq!(pool.idle(), 1);
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(pool.idle(), 1, "not yet");
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(pool.idle(), 0, "closed after 4 s unused");
    }
}
