use super::*;
use http::HeaderValue;

const HEADER: HeaderName = HeaderName::from_static("x-origin-verify");
const A: &str = "kq3Zr0c1T9xW5yPp8N2bVfLmHs7Ud4Ea6GoJiRtYeQw";
const B: &str = "second-value_0123456789abcdefghijklmnopqrs";

fn set(values: &[&str]) -> AcceptedSet {
    let values = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            AcceptedValue::new(
                format!("line{}", i + 1).into(),
                "file".into(),
                Secret::new(v.as_bytes()).unwrap(),
                Arc::default(),
            )
        })
        .collect();
    AcceptedSet::new(values).unwrap()
}

fn headers(values: &[&[u8]]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for v in values {
        map.append(HEADER, HeaderValue::from_bytes(v).unwrap());
    }
    map
}

fn verdict(set: &AcceptedSet, values: &[&[u8]]) -> Result<String, Rejection> {
    match set.check(&headers(values), &HEADER) {
        Verdict::Accepted(v) => Ok(v.label().to_owned()),
        Verdict::Rejected(r) => Err(r),
    }
}

#[test]
fn accepts_each_value_by_its_label() {
    let s = set(&[A, B]);
    assert_eq!(verdict(&s, &[A.as_bytes()]), Ok("line1".into()));
    assert_eq!(verdict(&s, &[B.as_bytes()]), Ok("line2".into()));
}

#[test]
fn rejects_everything_that_is_not_exactly_one_accepted_value() {
    let s = set(&[A, B]);
    let prefix = &A.as_bytes()[..A.len() - 1];
    let extended = format!("{A}x");
    let joined = format!("junk, {A}");
    let joined_valid = format!("{A},{B}");
    let upper = A.to_uppercase();
    let cases: Vec<(&[u8], Rejection)> = vec![
        (b"", Rejection::Mismatch),
        (b"wrong", Rejection::Mismatch),
        (prefix, Rejection::Mismatch),
        (extended.as_bytes(), Rejection::Mismatch),
        (joined.as_bytes(), Rejection::Mismatch),
        (joined_valid.as_bytes(), Rejection::Mismatch),
        (upper.as_bytes(), Rejection::Mismatch),
        (b"\xffnot-utf8", Rejection::Mismatch),
        (b"tab\tinside", Rejection::Mismatch),
    ];
    for (value, expected) in cases {
        assert_eq!(
            verdict(&s, &[value]),
            Err(expected),
            "{:?}",
            String::from_utf8_lossy(value)
        );
    }
    assert_eq!(verdict(&s, &[]), Err(Rejection::Missing));
    assert_eq!(
        verdict(&s, &[A.as_bytes(), A.as_bytes()]),
        Err(Rejection::Duplicate)
    );
    assert_eq!(
        verdict(&s, &[A.as_bytes(), B.as_bytes()]),
        Err(Rejection::Duplicate)
    );
}

#[test]
fn an_empty_set_cannot_exist() {
    assert!(AcceptedSet::new(Vec::new()).is_none());
}

#[test]
fn values_must_be_visible_ascii_without_commas() {
    assert_eq!(Secret::new(b""), Err(InvalidValue::Empty));
    for bad in [&b"a b"[..], b"a,b", b"a\tb", b"\x7f", b"caf\xc3\xa9"] {
        assert!(Secret::new(bad).is_err(), "{bad:?}");
    }
    assert!(Secret::new(A.as_bytes()).is_ok());
}

#[test]
fn debug_output_never_shows_a_value() {
    let s = set(&[A, B]);
    let printed = format!("{s:?} {:?}", Secret::new(A.as_bytes()).unwrap());
    assert!(!printed.contains(A) && !printed.contains(B), "{printed}");
    assert!(printed.contains("redacted"));
}

#[test]
fn a_match_counts_under_its_value_and_edge() {
    let counts = Arc::new(AcceptCounts::default());
    let s = AcceptedSet::new(vec![AcceptedValue::new(
        "current".into(),
        "v1".into(),
        Secret::new(A.as_bytes()).unwrap(),
        counts.clone(),
    )])
    .unwrap();
    if let Verdict::Accepted(v) = s.check(&headers(&[A.as_bytes()]), &HEADER) {
        assert_eq!(v.version_id(), "v1");
        v.record_match(Edge::CloudFront);
    }
    assert_eq!(counts.get(Edge::CloudFront), 1);
    assert_eq!(counts.total(), 1);
}

#[test]
fn a_value_listed_twice_counts_under_its_first_label() {
    let values = [("current", A), ("pending", A), ("previous", B)]
        .iter()
        .map(|(l, v)| {
            AcceptedValue::new(
                (*l).into(),
                "v1".into(),
                Secret::new(v.as_bytes()).unwrap(),
                Arc::default(),
            )
        })
        .collect();
    let s = AcceptedSet::new(values).unwrap();
    assert_eq!(s.find(A.as_bytes()).unwrap().label(), "current");
    assert_eq!(s.find(B.as_bytes()).unwrap().label(), "previous");
}
