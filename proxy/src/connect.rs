//! How the proxy reaches the app: over TCP (`--upstream http://host:port`) or over a Unix
//! domain socket (`--upstream unix:/path`), for the pooled client and the paired
//! connections alike.
//!
//! A Unix socket suits a sidecar: the app in the same task listens on a path in a shared
//! volume, and the loopback TCP stack's half of every exchange (segments, ACKs, the
//! TIME_WAIT of each closed connection) is not paid at all. Requests over it still carry
//! their own `Host`; the URI the pool keys its connections by names `localhost`.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio_util::either::Either;
use tower_service::Service;

use crate::body::BoxError;

/// Where the app listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `http://host:port`: the pool and the paired connections connect to the URI's authority.
    Tcp,
    /// `unix:/path`: every connection is to this socket, whatever the URI.
    Unix(PathBuf),
}

/// Opens upstream connections to the `Target`.
#[derive(Debug, Clone)]
pub enum Connector {
    Tcp(HttpConnector),
    Unix { path: Arc<Path>, timeout: Duration },
}

impl Connector {
    pub fn new(target: &Target, connect_timeout: Duration) -> Self {
        match target {
            Target::Tcp => {
                let mut connector = HttpConnector::new();
                connector.set_connect_timeout(Some(connect_timeout));
                connector.set_nodelay(true);
                Self::Tcp(connector)
            }
            Target::Unix(path) => Self::Unix {
                path: Arc::from(path.as_path()),
                timeout: connect_timeout,
            },
        }
    }
}

impl Service<Uri> for Connector {
    type Response = TokioIo<Stream>;
    type Error = BoxError;
    // Boxed: a connect is rare next to the requests a connection carries.
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        match self {
            Self::Tcp(connector) => {
                let connecting = connector.call(uri);
                Box::pin(async move {
                    let io = connecting.await?;
                    Ok(TokioIo::new(Stream(Either::Left(io.into_inner()))))
                })
            }
            Self::Unix { path, timeout } => {
                let (path, timeout) = (path.clone(), *timeout);
                Box::pin(async move {
                    let stream = tokio::time::timeout(timeout, UnixStream::connect(&*path))
                        .await
                        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))?
                        // The path is configuration, not a secret: it helps the operator.
                        .map_err(|e| {
                            io::Error::new(e.kind(), format!("{}: {e}", path.display()))
                        })?;
                    Ok(TokioIo::new(Stream(Either::Right(stream))))
                })
            }
        }
    }
}

/// An upstream connection, over TCP or a Unix socket.
#[derive(Debug)]
pub struct Stream(Either<TcpStream, UnixStream>);

impl Connection for Stream {
    fn connected(&self) -> Connected {
        match &self.0 {
            Either::Left(tcp) => tcp.connected(),
            Either::Right(unix) => unix.connected(),
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
