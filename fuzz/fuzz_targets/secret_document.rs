//! The SecretString parser both programs use: never panics; every value it returns obeys
//! the value rule; every value it accepts renders to a document that parses back to it.
#![no_main]

use edgeguard_secret::{Secret, document};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for header in ["x-origin-verify", "X-Other"] {
        if let Ok(secret) = document::parse(text, header) {
            assert!(Secret::new(secret.expose()).is_ok());
            let again = document::parse(&document::render(&secret, header), header);
            assert_eq!(again.ok(), Some(secret));
        }
    }
});
