//! Helpers shared by the benchmarks: a counting global allocator (each bench binary
//! installs it) and the request sets the header check is measured on.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;

use edgeguard_proxy::auth::{AcceptedSet, AcceptedValue, Secret};
use http::{HeaderMap, HeaderName, HeaderValue};

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

/// Counts allocations per thread (so the harness's own threads do not count).
#[derive(Debug)]
pub struct Counting;

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Allocations made on this thread so far.
pub fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

pub const HEADER: HeaderName = HeaderName::from_static("x-origin-verify");

/// `n` accepted values of 43 characters, labelled by stage.
pub fn accepted_set(n: usize) -> (AcceptedSet, Vec<String>) {
    let labels = ["current", "pending", "previous"];
    let values: Vec<String> = (0..n)
        .map(|i| {
            format!(
                "{i}{}",
                "kq3Zr0c1T9xW5yPp8N2bVfLmHs7Ud4Ea6GoJiRtYeQ"
                    .get(1..)
                    .unwrap_or("")
            )
        })
        .collect();
    let set = AcceptedSet::new(
        values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                AcceptedValue::new(
                    labels[i % 3].into(),
                    "v1".into(),
                    Secret::new(v.as_bytes()).expect("valid"),
                    Arc::default(),
                )
            })
            .collect(),
    )
    .expect("not empty");
    (set, values)
}

/// A request's headers as an ALB forwards them, with `values` as the header's fields.
pub fn request_headers(values: &[&str]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in [
        ("host", "api.example.com"),
        ("x-forwarded-for", "203.0.113.7"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-port", "443"),
        (
            "x-amzn-trace-id",
            "Root=1-67891233-abcdef012345678912345678",
        ),
        ("user-agent", "Mozilla/5.0"),
        ("accept", "*/*"),
    ] {
        map.insert(name, HeaderValue::from_static(value));
    }
    for v in values {
        map.append(
            HEADER,
            HeaderValue::from_str(v).expect("valid header value"),
        );
    }
    map
}
