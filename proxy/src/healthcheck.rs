//! `edgeguard-proxy healthcheck`: exit 0 iff the admin `/ready` answers 200. For the ECS
//! container health check in an image without curl. Blocking std I/O: no runtime needed.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

/// Asks `/ready` on the admin address. An unspecified address (0.0.0.0, ::) is asked on
/// loopback of the same family.
pub fn check(admin: SocketAddr, timeout: Duration) -> Result<(), String> {
    let mut addr = admin;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        });
    }
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET /ready HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .map_err(|e| format!("cannot send to {addr}: {e}"))?;
    let mut head = [0u8; 64];
    let mut read = 0;
    // The status line fits in the first bytes; read until we have it.
    while read < 12 {
        match stream.read(&mut head[read..]) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(e) => return Err(format!("no answer from {addr}: {e}")),
        }
    }
    let status = std::str::from_utf8(&head[..read]).unwrap_or("");
    match status.split(' ').nth(1) {
        Some("200") => Ok(()),
        Some(code) => Err(format!("{addr}/ready answered {code}")),
        None => Err(format!("{addr}/ready gave no HTTP status")),
    }
}
