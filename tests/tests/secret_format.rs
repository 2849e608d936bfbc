//! One secret format for both programs: for any SecretString, sync treats a version as
//! holding a value exactly when every proxy accepts it, and then the same value; and a
//! request carrying that value passes the proxy's check. (Both go through the shared
//! crate; this holds the two programs' own entry points to it.)

use edgeguard_proxy::auth::{AcceptedSet, AcceptedValue, Verdict};
use edgeguard_proxy::secrets::secretsmanager::{Fetched, classify};
use edgeguard_sync::store::Stored;
use edgeguard_sync::targets::secrets_manager::stored;
use proptest::prelude::*;

const H: &str = "x-origin-verify";

/// Values worth trying: visible ASCII, blanks, commas, control bytes, non-ASCII.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[!-~]{1,50}",
        "[ -~]{0,20}",
        "[a-z ,\t\n\u{7f}é]{0,12}",
        Just(String::new()),
    ]
}

/// SecretStrings: documents (with the header in various spellings or none), plain
/// strings, and text that only looks like JSON.
fn secret_string() -> impl Strategy<Value = String> {
    let header = prop_oneof![
        Just(None),
        Just(Some(H.to_owned())),
        Just(Some("X-Origin-Verify".to_owned())),
        Just(Some(" x-origin-verify ".to_owned())),
        Just(Some("x-other".to_owned())),
    ];
    prop_oneof![
        (header, value()).prop_map(|(h, v)| match h {
            Some(h) => serde_json::json!({"header": h, "value": v}).to_string(),
            None => serde_json::json!({"value": v}).to_string(),
        }),
        value(),
        value().prop_map(|v| format!("{{\"value\":\"{v}\"")),
        value().prop_map(|v| format!("  {v}\n")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn sync_holds_a_value_exactly_when_the_proxy_accepts_it(text in secret_string()) {
        let sync = stored(Some(&text), false, H);
        let proxy = classify(Some(&text), false, H);
        match (&sync, &proxy) {
            (Stored::Value(a), Ok(Fetched::Value(b))) => {
                prop_assert_eq!(a, b);
                let set = AcceptedSet::new(vec![AcceptedValue::new("current".into(), "v1".into(), b.clone(), Default::default())]).unwrap();
                let mut headers = http::HeaderMap::new();
                headers.insert(H, http::HeaderValue::from_bytes(a.expose()).unwrap());
                prop_assert!(matches!(set.check(&headers, &http::HeaderName::from_static(H)), Verdict::Accepted(_)));
            }
            (Stored::Value(_), _) => prop_assert!(false, "sync would write a value the proxy skips: {:?}", proxy),
            (_, Ok(Fetched::Value(_))) => prop_assert!(false, "the proxy accepts a value sync refuses: {:?}", sync),
            _ => {}
        }
    }
}

#[test]
fn the_hand_put_document_that_used_to_split_them_is_refused_by_both() {
    let text = r#"{"value":"a b"}"#;
    assert!(matches!(stored(Some(text), false, H), Stored::Unusable(_)));
    assert!(classify(Some(text), false, H).is_err());
}
