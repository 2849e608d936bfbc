//! The proxy's header check: a request is accepted iff it carries exactly one field of the
//! header, equal byte for byte to an accepted value. The input is split into the accepted
//! values and the request's fields; the verdict is checked against that rule computed the
//! plain way.
#![no_main]

use std::sync::Arc;

use edgeguard_proxy::auth::{AcceptedSet, AcceptedValue, Secret, Verdict};
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;

const H: HeaderName = HeaderName::from_static("x-origin-verify");

fuzz_target!(|data: &[u8]| {
    // Layout: accepted values, then 0xFF, then fields "name\0value" separated by 0xFE.
    let (values, fields) = match data.iter().position(|b| *b == 0xff) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let accepted: Vec<Secret> = values
        .split(|b| *b == b'\n')
        .filter_map(|v| Secret::new(v).ok())
        .collect();
    let Some(set) = AcceptedSet::new(
        accepted
            .iter()
            .map(|s| AcceptedValue::new("v".into(), "v1".into(), s.clone(), Arc::default()))
            .collect(),
    ) else {
        return;
    };
    let mut headers = HeaderMap::new();
    for field in fields.split(|b| *b == 0xfe) {
        let (name, value) = match field.iter().position(|b| *b == 0) {
            Some(i) => (&field[..i], &field[i + 1..]),
            None => (&b"x-origin-verify"[..], field),
        };
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
            headers.append(n, v);
        }
    }
    let ours: Vec<&HeaderValue> = headers.get_all(&H).iter().collect();
    let expected = ours.len() == 1 && accepted.iter().any(|s| s.expose() == ours[0].as_bytes());
    match set.check(&headers, &H) {
        Verdict::Accepted(v) => {
            assert!(expected, "accepted against the rule");
            assert_eq!(v.secret().expose(), ours[0].as_bytes());
        }
        Verdict::Rejected(_) => assert!(!expected, "rejected against the rule"),
    }
});
