//! The soak's verdict: every check, PASS or FAIL, with the counts behind it, and the
//! Markdown report.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use crate::soak::app::AppCounts;
use crate::soak::sample::{self, Sample};
use crate::soak::traffic::{self, Door};

/// RSS may grow this much per hour after warm-up (the fitted slope) before it is a leak.
const RSS_KIB_PER_HOUR: f64 = 4096.0;
/// Open file descriptors may grow this much per hour after warm-up.
const FDS_PER_HOUR: f64 = 20.0;
/// Slopes are only judged over at least this long after warm-up.
const SLOPE_SPAN: Duration = Duration::from_secs(600);
/// A valid request may fail this long after the app is back (the pool finds its dead
/// connections) without it counting.
const AFTER_KILL_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
pub struct Verdict {
    checks: Vec<(bool, String)>,
    /// Counts and notes shown above the checks.
    lines: Vec<String>,
}

impl Verdict {
    pub fn check(&mut self, ok: bool, text: String) {
        self.checks.push((ok, text));
    }

    pub fn passed(&self) -> bool {
        self.checks.iter().all(|(ok, _)| *ok)
    }

    /// What each door's clients saw; a failure is excused only while the app was down.
    pub fn traffic(&mut self, doors: &[&Arc<Door>], kills: &[(Instant, Instant)]) {
        let mut unavailable = 0;
        for door in doors {
            let s = &door.stats;
            let unexcused = s
                .unavailable_at
                .lock()
                .unwrap()
                .iter()
                .filter(|(sent, answered)| {
                    !kills.iter().any(|(killed, back)| {
                        *answered >= *killed && *sent <= *back + AFTER_KILL_GRACE
                    })
                })
                .count();
            unavailable += s.valid_unavailable.load(Relaxed);
            self.lines.push(format!(
                "{}: valid {} sent, {} answered 200, {} rejected, {} unavailable ({} outside the app's downtime); invalid {} sent, {} rejected, {} forwarded, {} other",
                door.name,
                s.valid_sent.load(Relaxed),
                s.valid_ok.load(Relaxed),
                s.valid_rejected.load(Relaxed),
                s.valid_unavailable.load(Relaxed),
                unexcused,
                s.invalid_sent.load(Relaxed),
                s.invalid_rejected.load(Relaxed),
                s.invalid_forwarded.load(Relaxed),
                s.invalid_other.load(Relaxed),
            ));
            let name = door.name;
            self.check(
                s.valid_rejected.load(Relaxed) == 0,
                format!("{name}: no valid request rejected while its value was accepted"),
            );
            self.check(
                unexcused == 0,
                format!("{name}: no valid request failed outside the app's downtime"),
            );
            self.check(
                s.invalid_forwarded.load(Relaxed) == 0,
                format!("{name}: no invalid request answered 2xx"),
            );
            self.check(
                s.valid_ok.load(Relaxed) > 0 && s.invalid_rejected.load(Relaxed) > 0,
                format!("{name}: the load ran (valid answered 200, invalid rejected)"),
            );
            let defects = s.defects.lock().unwrap();
            if !defects.is_empty() {
                self.lines
                    .push(format!("{name}: first defects: {defects:?}"));
            }
        }
        self.check(
            kills.is_empty() || unavailable > 0,
            format!(
                "the app kills were real: {unavailable} valid requests failed while it was down"
            ),
        );
    }

    /// What reached the app.
    pub fn at_app(&mut self, counts: &AppCounts) {
        let invalid = counts.invalid.load(Relaxed);
        self.check(
            invalid == 0,
            format!("no invalid request reached the app ({invalid} did)"),
        );
        let with_header = counts.with_header.load(Relaxed);
        self.check(
            with_header == 0,
            format!("the header never reached the app ({with_header} requests carried it)"),
        );
    }

    pub fn idle(&mut self, idle: &[(&str, Vec<TcpStream>)]) {
        for (name, streams) in idle {
            let closed = traffic::count_closed(streams);
            self.check(
                closed == 0,
                format!(
                    "{name}: all {} idle keep-alive connections still open ({closed} closed)",
                    streams.len()
                ),
            );
        }
    }

    /// RSS and open fds after warm-up (a tenth of the run, at least 2 minutes), judged by
    /// the least-squares slope over at least `SLOPE_SPAN` of samples.
    pub fn growth(&mut self, samples: &[Sample], duration: Duration) {
        let warm_up = (duration / 10).max(Duration::from_secs(120));
        let mut doors: Vec<&str> = samples.iter().map(|s| s.door).collect();
        doors.sort_unstable();
        doors.dedup();
        for door in doors {
            let after: Vec<&Sample> = samples
                .iter()
                .filter(|s| s.door == door && s.at >= warm_up.as_secs_f64())
                .collect();
            let span = after.last().map_or(0.0, |l| l.at) - after.first().map_or(0.0, |f| f.at);
            if span < SLOPE_SPAN.as_secs_f64() {
                self.lines.push(format!(
                    "{door}: growth not judged: {span:.0} s of samples after the {} s warm-up, {} s needed",
                    warm_up.as_secs(),
                    SLOPE_SPAN.as_secs()
                ));
                continue;
            }
            let per_hour = |f: &dyn Fn(&Sample) -> f64| {
                let points: Vec<(f64, f64)> = after.iter().map(|s| (s.at, f(s))).collect();
                sample::slope(&points).unwrap_or(0.0) * 3600.0
            };
            let rss = per_hour(&|s| s.rss_kib as f64);
            let fds = per_hour(&|s| s.fds as f64);
            self.check(
                rss <= RSS_KIB_PER_HOUR,
                format!(
                    "{door}: RSS does not grow: fitted slope {:.2} MiB/h after warm-up (limit {:.0})",
                    rss / 1024.0,
                    RSS_KIB_PER_HOUR / 1024.0
                ),
            );
            self.check(
                fds <= FDS_PER_HOUR,
                format!("{door}: open fds do not grow: fitted slope {fds:.1}/h after warm-up (limit {FDS_PER_HOUR:.0})"),
            );
        }
    }

    /// The Markdown report: `title`, the samples' table, the counts, every check, the verdict.
    pub fn report(&self, title: &str, samples: &[Sample]) -> String {
        let mut out = format!("{title}\n\n{}\n", sample::table(samples, 13));
        for line in &self.lines {
            out.push_str(&format!("- {line}\n"));
        }
        for (ok, text) in &self.checks {
            out.push_str(&format!("- {} {text}\n", if *ok { "PASS" } else { "FAIL" }));
        }
        out.push_str(&format!(
            "\nVERDICT: {}\n",
            if self.passed() { "PASS" } else { "FAIL" }
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at: f64, rss_kib: u64, fds: u64) -> Sample {
        Sample {
            at,
            door: "file",
            rss_kib,
            fds,
            threads: 4,
            connections_open: 10,
            p99_ms: Some(1.0),
            valid_ok: 1,
            invalid_rejected: 1,
            admin_ok: true,
        }
    }

    /// `n` samples 10 s apart, with RSS (KiB) and fds given by the sample's index.
    fn run(n: u32, rss: impl Fn(u32) -> u64, fds: impl Fn(u32) -> u64) -> Vec<Sample> {
        (0..n)
            .map(|i| sample(f64::from(i) * 10.0, rss(i), fds(i)))
            .collect()
    }

    #[test]
    fn growth_fails_a_leak_and_passes_a_flat_run() {
        let hour = Duration::from_secs(3600);
        let leak = run(360, |i| 100_000 + u64::from(i) * 100, |_| 5000);
        let mut v = Verdict::default();
        v.growth(&leak, hour);
        assert!(!v.passed(), "36,000 KiB/h must fail: {:?}", v.checks);
        let flat = run(
            360,
            |i| 100_000 + u64::from(i % 3),
            |i| 5000 + u64::from(i % 2),
        );
        let mut v = Verdict::default();
        v.growth(&flat, hour);
        assert!(v.passed() && v.checks.len() == 2, "{:?}", v.checks);
    }

    #[test]
    fn growth_is_not_judged_on_a_short_run() {
        let short = run(9, |i| 100_000 + u64::from(i) * 10_000, |_| 5000);
        let mut v = Verdict::default();
        v.growth(&short, Duration::from_secs(90));
        assert!(v.checks.is_empty());
        assert!(v.lines[0].contains("not judged"));
    }
}
