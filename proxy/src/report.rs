//! Report mode (`--mode report`): how a live service adopts the header without a single
//! surprise 403. A request that enforcing would refuse (403, or 503 with nothing loaded) is
//! forwarded instead, with the header's fields removed as always; the proxy counts it
//! (`outcome="reported"`, the rejection reasons, EMF by reason and edge) and says who sent
//! it, at most one log line a second per reason, never with a header's value.
//!
//! Impossible to forget: `edgeguard_enforcing` is 0, a warning is logged at start and once
//! a minute with the counts since the last one, and deploy/ alarms on the EMF record
//! `NotEnforcing` (docs/adopt.md).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http::header::USER_AGENT;
use http::{HeaderMap, HeaderName, HeaderValue, Request};
use tokio_util::sync::CancellationToken;

use crate::auth::Rejection;
use crate::edge::Edge;

/// Whether the enforcing listener refuses what fails the check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Enforce,
    Report,
}

impl Mode {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "enforce" => Ok(Self::Enforce),
            "report" => Ok(Self::Report),
            other => Err(format!("\"{other}\" is neither enforce nor report")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enforce => "enforce",
            Self::Report => "report",
        }
    }
}

/// Why enforcing would have refused a request: a rejection (403), or nothing loaded (503).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Rejected(Rejection),
    NothingLoaded,
}

impl Refusal {
    pub const ALL: [Self; 4] = [
        Self::Rejected(Rejection::Missing),
        Self::Rejected(Rejection::Duplicate),
        Self::Rejected(Rejection::Mismatch),
        Self::NothingLoaded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rejected(why) => why.as_str(),
            Self::NothingLoaded => "nothing_loaded",
        }
    }

    fn index(self) -> usize {
        match self {
            Self::Rejected(Rejection::Missing) => 0,
            Self::Rejected(Rejection::Duplicate) => 1,
            Self::Rejected(Rejection::Mismatch) => 2,
            Self::NothingLoaded => 3,
        }
    }
}

/// The longest excerpt of a field or path a log line carries: enough to tell senders
/// apart, bounded so that a client cannot make the log line large.
const EXCERPT: usize = 200;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const VIA: HeaderName = HeaderName::from_static("via");
const X_AMZ_CF_ID: HeaderName = HeaderName::from_static("x-amz-cf-id");
const API_ID: HeaderName = HeaderName::from_static("x-amzn-apigateway-api-id");

/// The per-reason log limit and the counts for the periodic warning. Atomics only: the
/// request path takes no lock here either.
#[derive(Debug)]
pub struct Reporter {
    started: Instant,
    /// Per reason, the second (of `started`'s clock, plus one: 0 is never) of its last line.
    logged_in: [AtomicU64; 4],
    /// Per reason, requests forwarded since the last warning.
    since_warning: [AtomicU64; 4],
}

impl Default for Reporter {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            logged_in: Default::default(),
            since_warning: Default::default(),
        }
    }
}

impl Reporter {
    /// Takes note of a request forwarded although enforcing would have refused it.
    pub fn forwarded<B>(&self, why: Refusal, req: &Request<B>, edge: Edge) {
        let i = why.index();
        self.since_warning[i].fetch_add(1, Ordering::Relaxed);
        if self.claim_line(i, self.started.elapsed().as_secs() + 1) {
            log_sender(why, req, edge);
        }
    }

    /// Whether reason `i` may log a line in `second`: once a second, and one thread wins
    /// it when several try at once.
    fn claim_line(&self, i: usize, second: u64) -> bool {
        let last = self.logged_in[i].load(Ordering::Relaxed);
        last != second
            && self.logged_in[i]
                .compare_exchange(last, second, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    /// The counts since the last call, by reason, and zero again.
    pub fn take_counts(&self) -> [(Refusal, u64); 4] {
        Refusal::ALL.map(|why| {
            (
                why,
                self.since_warning[why.index()].swap(0, Ordering::Relaxed),
            )
        })
    }
}

/// One line that says who sent a would-be refusal, without any field's value that could
/// be a secret: the header checked is never read here, nor the query (it carries tokens).
fn log_sender<B>(why: Refusal, req: &Request<B>, edge: Edge) {
    let headers = req.headers();
    tracing::info!(
        reason = why.as_str(),
        client = client_address(headers),
        user_agent = excerpt(headers.get(USER_AGENT)),
        method = req.method().as_str(),
        path = clip(req.uri().path()),
        edge = edge.as_str(),
        via = excerpt(headers.get(VIA)),
        cloudfront_request_id = excerpt(headers.get(X_AMZ_CF_ID)),
        api_id = excerpt(headers.get(API_ID)),
        "report mode: forwarded a request that enforcing would refuse"
    );
}

/// The client as the ALB reports it: the last address of the last `X-Forwarded-For` (the
/// ALB appends the address it saw; what comes before it is the client's own to write).
fn client_address(headers: &HeaderMap) -> &str {
    let last_field = headers.get_all(X_FORWARDED_FOR).iter().next_back();
    match last_field.map(HeaderValue::to_str) {
        Some(Ok(list)) => clip(list.rsplit(',').next().unwrap_or("").trim()),
        Some(Err(_)) => "(not visible ASCII)",
        None => "-",
    }
}

fn excerpt(value: Option<&HeaderValue>) -> &str {
    match value.map(HeaderValue::to_str) {
        Some(Ok(text)) => clip(text),
        Some(Err(_)) => "(not visible ASCII)",
        None => "-",
    }
}

/// At most [`EXCERPT`] bytes, cut on a character boundary.
fn clip(text: &str) -> &str {
    if text.len() <= EXCERPT {
        return text;
    }
    let mut end = EXCERPT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Warns at once, then every `every` until `stop`, that the proxy is not enforcing, with
/// what it forwarded since the last warning.
pub async fn remind(reporter: std::sync::Arc<Reporter>, every: Duration, stop: CancellationToken) {
    tracing::warn!(
        "report mode: requests that fail the header check are FORWARDED, not refused; switch to --mode enforce once reported requests have stopped (docs/adopt.md)"
    );
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = stop.cancelled() => return,
        }
        let [missing, duplicate, mismatch, nothing_loaded] = reporter.take_counts().map(|(_, n)| n);
        tracing::warn!(
            missing,
            duplicate,
            mismatch,
            nothing_loaded,
            since_seconds = every.as_secs(),
            "report mode: still not enforcing; requests forwarded that enforcing would refuse, by reason"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_is_listed_once_in_its_place() {
        for (i, why) in Refusal::ALL.iter().enumerate() {
            assert_eq!(why.index(), i, "{why:?}");
        }
        let names: Vec<_> = Refusal::ALL.iter().map(|w| w.as_str()).collect();
        assert_eq!(
            names,
            ["missing", "duplicate", "mismatch", "nothing_loaded"]
        );
    }

    #[test]
    fn the_mode_is_one_of_two_words() {
        assert_eq!(Mode::parse("enforce"), Ok(Mode::Enforce));
        assert_eq!(Mode::parse("report"), Ok(Mode::Report));
        for bad in ["", "Report", "audit", "enforce "] {
            assert!(Mode::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_client_is_the_last_hop_the_alb_appended() {
        let mut h = HeaderMap::new();
        assert_eq!(client_address(&h), "-");
        h.append(
            X_FORWARDED_FOR,
            HeaderValue::from_static("1.1.1.1, 2.2.2.2"),
        );
        h.append(
            X_FORWARDED_FOR,
            HeaderValue::from_static("3.3.3.3,  10.0.0.7 "),
        );
        assert_eq!(client_address(&h), "10.0.0.7");
    }

    #[test]
    fn excerpts_are_bounded_and_cut_between_characters() {
        let long = "é".repeat(EXCERPT);
        let cut = clip(&long);
        assert!(cut.len() <= EXCERPT && cut.chars().all(|c| c == 'é'));
        let odd = HeaderValue::from_bytes(b"caf\xe9").unwrap();
        assert_eq!(excerpt(Some(&odd)), "(not visible ASCII)");
    }

    #[test]
    fn counts_are_taken_once() {
        let r = Reporter::default();
        let req = Request::new(());
        r.forwarded(Refusal::Rejected(Rejection::Missing), &req, Edge::Other);
        r.forwarded(Refusal::Rejected(Rejection::Missing), &req, Edge::Other);
        r.forwarded(Refusal::NothingLoaded, &req, Edge::CloudFront);
        let counts = r.take_counts().map(|(_, n)| n);
        assert_eq!(counts, [2, 0, 0, 1]);
        assert_eq!(r.take_counts().map(|(_, n)| n), [0; 4]);
    }

    #[test]
    fn at_most_one_line_a_second_per_reason() {
        let r = Reporter::default();
        assert!(r.claim_line(2, 5), "the first line of a second");
        assert!(!r.claim_line(2, 5), "no second line within it");
        assert!(r.claim_line(0, 5), "another reason has its own limit");
        assert!(r.claim_line(2, 6), "the next second logs again");
        let claimed = std::thread::scope(|s| {
            let racers: Vec<_> = (0..4).map(|_| s.spawn(|| r.claim_line(1, 9))).collect();
            racers
                .into_iter()
                .map(|t| t.join().unwrap())
                .filter(|won| *won)
                .count()
        });
        assert_eq!(claimed, 1, "one of the threads racing for a second wins it");
    }

    /// What the tracing macros write while a test runs, as text.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        /// The warnings (the per-request lines left out).
        fn lines(&self) -> Vec<String> {
            let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
            text.lines()
                .filter(|l| l.contains("WARN"))
                .map(str::to_owned)
                .collect()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_warning_at_start_then_every_interval_with_the_counts_since_the_last() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let reporter = std::sync::Arc::new(Reporter::default());
        let stop = CancellationToken::new();
        let every = Duration::from_secs(60);
        let task = tokio::spawn(remind(reporter.clone(), every, stop.clone()));
        tokio::task::yield_now().await;
        assert_eq!(captured.lines().len(), 1, "the warning at start");
        assert!(captured.lines()[0].contains("FORWARDED"));

        let req = Request::new(());
        for _ in 0..3 {
            reporter.forwarded(Refusal::Rejected(Rejection::Missing), &req, Edge::Other);
        }
        reporter.forwarded(Refusal::NothingLoaded, &req, Edge::Other);
        tokio::time::sleep(every + Duration::from_millis(1)).await;
        let lines = captured.lines();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines[1].contains("still not enforcing")
                && lines[1].contains("missing=3")
                && lines[1].contains("mismatch=0")
                && lines[1].contains("nothing_loaded=1"),
            "{lines:?}"
        );
        // The next one counts only what came after.
        reporter.forwarded(Refusal::Rejected(Rejection::Mismatch), &req, Edge::Other);
        tokio::time::sleep(every).await;
        let lines = captured.lines();
        let last = lines.last().unwrap();
        assert!(
            last.contains("missing=0") && last.contains("mismatch=1"),
            "{lines:?}"
        );
        stop.cancel();
        task.await.unwrap();
    }
}
