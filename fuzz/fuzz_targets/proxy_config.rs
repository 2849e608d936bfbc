//! The proxy's configuration from the environment: any set of variables yields a
//! configuration or a list of problems (never a panic), and no problem quotes a value of
//! EDGEGUARD_SECRET (an env source may hold the secret itself).
#![no_main]

use std::collections::HashMap;

use edgeguard_proxy::config::{self, cli, env};
use libfuzzer_sys::fuzz_target;


fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // One value per line, in the order of the proxy's key table (every key, so a new one
    // is fuzzed the day it is added); an empty line leaves the variable unset.
    let mut vars = HashMap::new();
    for (key, value) in env::ALL.iter().zip(text.split('\n')) {
        if !value.is_empty() {
            vars.insert(key.env.to_owned(), value.to_owned());
        }
    }
    vars.insert("ORIGIN_SECRET".into(), "SECRET-MARKER-VALUE".into());
    let Ok(cli) = cli::parse_from(["edgeguard-proxy"]) else {
        return;
    };
    if let Err(errors) = config::load(&cli, &vars) {
        assert!(!errors.to_string().contains("SECRET-MARKER-VALUE"));
    }
});
