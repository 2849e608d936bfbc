//! The proxy's configuration from the environment: any set of variables yields a
//! configuration or a list of problems (never a panic), and no problem quotes a value of
//! EDGEGUARD_SECRET (an env source may hold the secret itself).
#![no_main]

use std::collections::HashMap;

use edgeguard_proxy::config::{self, cli};
use libfuzzer_sys::fuzz_target;

const KEYS: &[&str] = &[
    "EDGEGUARD_LISTEN",
    "EDGEGUARD_INTERNAL_LISTEN",
    "EDGEGUARD_UPSTREAM",
    "EDGEGUARD_HEADER",
    "EDGEGUARD_SECRET_SOURCE",
    "EDGEGUARD_REFRESH_INTERVAL",
    "EDGEGUARD_HEALTH_PATH",
    "EDGEGUARD_ADMIN_LISTEN",
    "EDGEGUARD_IDLE_TIMEOUT",
    "EDGEGUARD_HEADER_READ_TIMEOUT",
    "EDGEGUARD_MAX_HEADER_BYTES",
    "EDGEGUARD_MAX_CONNECTIONS",
    "EDGEGUARD_UPSTREAM_TIMEOUT",
    "EDGEGUARD_TLS_CERT",
    "EDGEGUARD_TLS_KEY",
    "EDGEGUARD_LOG_FORMAT",
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // One value per line, in KEYS order; an empty line leaves the variable unset.
    let mut env = HashMap::new();
    for (key, value) in KEYS.iter().zip(text.split('\n')) {
        if !value.is_empty() {
            env.insert((*key).to_owned(), value.to_owned());
        }
    }
    env.insert("ORIGIN_SECRET".into(), "SECRET-MARKER-VALUE".into());
    let Ok(cli) = cli::parse_from(["edgeguard-proxy"]) else {
        return;
    };
    if let Err(errors) = config::load(&cli, &env) {
        assert!(!errors.to_string().contains("SECRET-MARKER-VALUE"));
    }
});
