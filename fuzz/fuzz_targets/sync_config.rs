//! edgeguard-sync's configuration (TOML, and JSON for the Lambda): any text yields a
//! configuration or every problem, never a panic; what it accepts has a header that
//! passes the shared rule.
#![no_main]

use edgeguard_sync::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for parsed in [Config::from_toml(text), Config::from_json(text)] {
        match parsed {
            Ok(config) => assert!(edgeguard_secret::header::name(&config.header).is_ok()),
            Err(errors) => assert!(!errors.0.is_empty()),
        }
    }
});
