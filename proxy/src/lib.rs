//! edgeguard-proxy: a reverse-proxy sidecar that admits only requests carrying the edge's
//! shared-secret header (see docs/design.md).
//!
//! The binary (`main.rs`) only parses configuration and starts [`app::run`]; everything
//! else lives here, one idea per module.

pub mod admin;
pub mod app;
pub mod auth;
pub mod body;
pub mod config;
pub mod conn;
pub mod conn_clock;
pub mod connect;
pub mod edge;
pub mod fields;
pub mod forward;
pub mod gate;
pub mod h1;
pub mod h2_server;
pub mod healthcheck;
pub mod host;
mod io_wrap;
pub mod labels;
pub mod logging;
pub mod metrics;
pub mod paired;
pub mod relay;
mod replay;
pub mod report;
pub mod secrets;
pub mod serve;
pub mod sniff;
pub mod state;
pub mod streams;
pub mod timer;
pub mod tls;
pub mod upgrade;
pub mod well_formed;
