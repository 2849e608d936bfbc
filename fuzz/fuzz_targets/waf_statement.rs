//! The owned WAF rule's statement: whatever values are written, in whichever wrapper, are
//! read back exactly; and a statement of arbitrary search strings and header names is read
//! without a panic.
#![no_main]

use aws_sdk_wafv2::types::{LabelMatchScope, LabelMatchStatement, Statement};
use edgeguard_secret::Secret;
use edgeguard_sync::targets::waf_statement::{self, Shape};
use libfuzzer_sys::fuzz_target;

const H: &str = "x-origin-verify";

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let values: Vec<Secret> = rest
        .split(|b| *b == b'\n')
        .filter_map(|v| Secret::new(v).ok())
        .take(8)
        .collect();
    if values.is_empty() {
        return;
    }
    let other = Statement::builder()
        .label_match_statement(
            LabelMatchStatement::builder()
                .scope(LabelMatchScope::Label)
                .key("awswaf:clientip:geo:country:DE")
                .build()
                .unwrap(),
        )
        .build();
    let shape = match selector % 3 {
        0 => Shape::Plain,
        1 => Shape::Not,
        _ => Shape::And {
            statements: vec![other.clone(), other],
            position: usize::from(selector / 3 % 2),
        },
    };
    let written = waf_statement::write(&shape, H, &values);
    let (read_shape, read) = waf_statement::read(&written, H).expect("what was written is read");
    assert_eq!(read.len(), values.len());
    assert!(read.iter().zip(&values).all(|(r, v)| r.is(v)));
    // Written for another header: refused, never misread.
    let foreign = waf_statement::write(&read_shape, "x-other", &values);
    assert!(waf_statement::read(&foreign, H).is_err());
});
