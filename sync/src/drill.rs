//! `edgeguard-sync drill`: a full rotation under steady traffic, counted by phase.
//!
//! Requests go through every edge probe URL (the front door adds the header) at a fixed
//! rate, and, at the same rate, straight to every `direct` probe URL without the header.
//! Each answer is counted under the rotation phase in which its request was sent. The drill
//! passes when the rotation completed, no request through the edge failed and no request
//! without the header got through. The drill never sees a secret value: the edge adds it.

mod report;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::config::Probe;
use crate::probe::{HttpClient, http_client};
use crate::progress::{Phase, Progress};
use crate::rotation::{Rotation, Start};

pub use report::{DirectCounts, EdgeCounts, PhaseReport, Report};

#[derive(Debug, Clone)]
pub struct Options {
    /// Requests per second, per URL.
    pub rps: u32,
    /// Traffic before the rotation starts (the baseline).
    pub before: Duration,
    /// Traffic after the rotation ended: the proxies' next refreshes after prune.
    pub after: Duration,
    /// The whole drill's limit; past it the rotation is abandoned (it resumes on the next
    /// `rotate`) and the drill fails.
    pub timeout: Duration,
    /// One request's limit.
    pub request_timeout: Duration,
}

/// The counters, one row per phase; the rotation's progress moves `phase`.
#[derive(Debug, Default)]
struct Counters {
    phase: AtomicU8,
    /// Per phase: sent, ok, rejected (403), other errors.
    edge: [[AtomicU64; 4]; Phase::ALL.len()],
    /// Per phase: sent, rejected, let through (2xx), other.
    direct: [[AtomicU64; 4]; Phase::ALL.len()],
    /// The last evidence the rotation's prune read (with `[evidence]`).
    evidence: std::sync::Mutex<Option<crate::evidence::Report>>,
}

impl Counters {
    fn phase(&self) -> usize {
        usize::from(self.phase.load(Ordering::Relaxed))
    }
}

/// Passes progress on, and records the phase the rotation is in.
#[allow(missing_debug_implementations)]
struct PhaseTracker {
    inner: Box<dyn Progress>,
    counters: Arc<Counters>,
}

impl Progress for PhaseTracker {
    fn step(&self, message: &str) {
        self.inner.step(message);
    }

    fn waiting(&self, what: &str, total: Duration) {
        self.inner.waiting(what, total);
    }

    fn phase(&self, phase: Phase) {
        let index = Phase::ALL.iter().position(|p| *p == phase).unwrap_or(0);
        self.counters.phase.store(index as u8, Ordering::Relaxed);
        self.inner.phase(phase);
    }

    fn evidence(&self, report: &crate::evidence::Report) {
        *self
            .counters
            .evidence
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(report.clone());
        self.inner.evidence(report);
    }
}

#[derive(Debug)]
pub struct Drill {
    options: Options,
    edge: Vec<(http::Uri, Option<u16>)>,
    direct: Vec<(http::Uri, Option<u16>)>,
    counters: Arc<Counters>,
}

impl Drill {
    /// Needs at least one edge probe; every URL must parse.
    pub fn new(probes: &[Probe], options: Options) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let (mut edge, mut direct) = (Vec::new(), Vec::new());
        for (i, p) in probes.iter().enumerate() {
            match p.url.parse::<http::Uri>() {
                Ok(uri) if p.direct => direct.push((uri, p.expect)),
                Ok(uri) => edge.push((uri, p.expect)),
                Err(_) => problems.push(format!("probe[{i}].url: not a URL")),
            }
        }
        if edge.is_empty() {
            problems.push(
                "probe: the drill needs at least one probe through the edge (direct = false)"
                    .into(),
            );
        }
        if options.rps == 0 {
            problems.push("--rps: must be at least 1".into());
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Self {
            options,
            edge,
            direct,
            counters: Arc::default(),
        })
    }

    /// The progress to build the rotation with: it passes everything to `inner` and tells
    /// the drill which phase each request belongs to.
    pub fn progress(&self, inner: Box<dyn Progress>) -> Box<dyn Progress> {
        Box::new(PhaseTracker {
            inner,
            counters: self.counters.clone(),
        })
    }

    /// Traffic for `before`, the rotation (as `rotate`, prune included), traffic for `after`.
    pub async fn run(&self, rotation: &Rotation) -> Report {
        let started = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let client = http_client();
        // Bounds the requests in flight (a stalled edge must not grow them without end).
        let in_flight = Arc::new(Semaphore::new(
            (self.options.rps as usize * 4 + 16) * (self.edge.len() + self.direct.len()),
        ));
        let mut generators = JoinSet::new();
        let targets = self
            .edge
            .iter()
            .map(|t| (t, false))
            .chain(self.direct.iter().map(|t| (t, true)));
        for ((uri, expect), direct) in targets {
            generators.spawn(generate(
                client.clone(),
                uri.clone(),
                *expect,
                direct,
                self.options.clone(),
                self.counters.clone(),
                stop.clone(),
                in_flight.clone(),
            ));
        }

        tokio::time::sleep(self.options.before).await;
        let limit = self
            .options
            .timeout
            .saturating_sub(self.options.before + self.options.after);
        let outcome = match tokio::time::timeout(limit, full_rotation(rotation)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!(
                "the rotation did not end within {}; run `rotate` to resume it",
                humantime::format_duration(limit)
            )),
        };
        rotation.progress().phase(Phase::After);
        tokio::time::sleep(self.options.after).await;
        stop.store(true, Ordering::Relaxed);
        // Each generator waits for its own requests (each bounded by the request timeout).
        while generators.join_next().await.is_some() {}
        Report::new(
            rotation.secret_id(),
            self.options.rps,
            outcome,
            &self.counters,
            started.elapsed(),
        )
    }
}

/// `rotate`, but always a whole rotation: an unpruned earlier one is pruned first.
async fn full_rotation(rotation: &Rotation) -> Result<(), crate::error::SyncError> {
    if rotation.start().await? == Start::PruneOnly {
        rotation.rotate(false).await?;
    }
    rotation.rotate(false).await
}

/// Sends a request to `uri` every 1/rps seconds until `stop`, each counted under the phase
/// it was sent in; then waits for those still in flight.
#[allow(clippy::too_many_arguments)]
async fn generate(
    client: HttpClient,
    uri: http::Uri,
    expect: Option<u16>,
    direct: bool,
    options: Options,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    in_flight: Arc<Semaphore>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1) / options.rps);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut requests = JoinSet::new();
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            break;
        };
        let phase = counters.phase();
        let row = if direct {
            &counters.direct[phase]
        } else {
            &counters.edge[phase]
        };
        row[0].fetch_add(1, Ordering::Relaxed);
        let (client, uri, counters) = (client.clone(), uri.clone(), counters.clone());
        let limit = options.request_timeout;
        requests.spawn(async move {
            let status = request(&client, uri, limit).await;
            let row = if direct {
                &counters.direct[phase]
            } else {
                &counters.edge[phase]
            };
            let column = match (direct, status) {
                (false, Some(s)) if expect.map_or((200..300).contains(&s), |e| e == s) => 1,
                (false, Some(403)) => 2,
                (false, _) => 3,
                (true, Some(s)) if s == expect.unwrap_or(403) => 1,
                (true, Some(s)) if (200..300).contains(&s) => 2,
                (true, _) => 3,
            };
            row[column].fetch_add(1, Ordering::Relaxed);
            drop(permit);
        });
        // Reap finished requests as we go, so the set stays small.
        while requests.try_join_next().is_some() {}
    }
    while requests.join_next().await.is_some() {}
}

/// The answer's status, or None for no answer (connection error, timeout, broken body).
async fn request(client: &HttpClient, uri: http::Uri, limit: Duration) -> Option<u16> {
    let exchange = async {
        let answer = client.get(uri).await.ok()?;
        let status = answer.status().as_u16();
        // Read the body: the connection goes back to the pool only then.
        answer.into_body().collect().await.ok()?;
        Some(status)
    };
    tokio::time::timeout(limit, exchange).await.ok().flatten()
}

#[cfg(test)]
mod tests;
