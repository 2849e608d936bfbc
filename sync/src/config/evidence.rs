//! `[evidence]`: where the proxies' `AcceptedRequests` land, and the time rules that say
//! what CloudWatch can prove.
//!
//! The proxies write each interval's counts at the interval's end (`--emf-interval`), and
//! CloudWatch Logs takes a while to make a record a metric ("Setting alarms on metrics
//! created with the embedded metric format", CloudWatch User Guide: metric generation
//! "depends on your log publishing flow"; AWS states no bound). So the newest
//! `emf_interval + ingestion_margin` of any period are *blind*: a request there may not
//! show yet. The gate therefore reads `quiet_period` plus that blind part: the blind part
//! can only block (a request with AWSPREVIOUS that does show, however recent, still
//! counts), never prove.

use std::time::Duration;

use serde::Deserialize;

use edgeguard_secret::metrics;

/// One place the counts land: a namespace in a region, and (for a CloudWatch monitoring
/// account) the account whose metrics to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub namespace: String,
    /// `None`: the secret's region (from its ARN), else the SDK's.
    pub region: Option<String>,
    /// `None`: the caller's own account. Set it when reading a source account's metrics
    /// from a monitoring account (GetMetricData's `MetricDataQuery.AccountId`).
    pub account: Option<String>,
    /// Read through this role (a fleet in another account without a monitoring account).
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
}

impl Source {
    /// Where this source is read.
    pub fn home(&self) -> super::Home {
        super::Home {
            role_arn: self.role_arn.clone(),
            external_id: self.external_id.clone(),
            region: self.region.clone(),
        }
    }
}

/// The `[evidence]` settings, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// Every fleet whose counts prune needs: each must be quiet and fresh.
    pub sources: Vec<Source>,
    /// How long CloudWatch must show no request carrying AWSPREVIOUS (beyond the blind part).
    pub quiet_period: Duration,
    /// How long `rotate` waits for quiet before leaving the rotation unpruned.
    pub timeout: Duration,
    /// The proxies' `--emf-interval`.
    pub emf_interval: Duration,
    /// How long CloudWatch may take to turn a written record into a metric.
    pub ingestion_margin: Duration,
}

pub(super) const DEFAULT_QUIET_PERIOD: &str = "10m";
pub(super) const DEFAULT_TIMEOUT: &str = "2h";
pub(super) const DEFAULT_EMF_INTERVAL: &str = "60s";
/// A stated margin, not a measured one: AWS gives no bound for EMF ingestion.
pub(super) const DEFAULT_INGESTION_MARGIN: &str = "5m";
/// The newest part of the visible period in which AWSCURRENT must show requests, at most.
/// The scheduled prune sends a request every 2 minutes (the template's schedule), so a
/// live fleet always has one in any 5 minutes CloudWatch can show.
const FRESH_SPAN: Duration = Duration::from_secs(300);

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

impl Evidence {
    /// The newest part of any period that CloudWatch may not show yet.
    pub fn blind(&self) -> Duration {
        self.emf_interval + self.ingestion_margin
    }

    /// The span in which every live proxy writes at least once and CloudWatch closes a
    /// minute: the EMF interval, at least a minute, in whole minutes.
    pub fn beat(&self) -> Duration {
        whole_minutes(self.emf_interval.max(MINUTE))
    }

    /// The shortest quiet period that proves anything: two beats (one may be cut by the
    /// minute rounding at either end).
    pub fn min_quiet_period(&self) -> Duration {
        2 * self.beat()
    }

    /// AWSCURRENT must show requests in the newest `fresh_span` of what CloudWatch can
    /// show: the fleet still reports now, not only at the period's start.
    pub fn fresh_span(&self) -> Duration {
        self.quiet_period.min(FRESH_SPAN.max(2 * self.beat()))
    }
}

/// Rounds up to whole minutes (CloudWatch's standard resolution).
pub fn whole_minutes(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs().div_ceil(60).max(1) * 60)
}

/// `[evidence]` as written. `namespace`/`region`/`account`/`role_arn`/`external_id`
/// describe a single source; a list of `[[evidence.source]]` describes several (not both).
#[derive(Debug, Default, Deserialize)]
pub(super) struct RawEvidence {
    namespace: Option<String>,
    region: Option<String>,
    account: Option<String>,
    role_arn: Option<String>,
    external_id: Option<String>,
    #[serde(default)]
    source: Vec<RawSource>,
    quiet_period: Option<String>,
    timeout: Option<String>,
    emf_interval: Option<String>,
    ingestion_margin: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct RawSource {
    namespace: Option<String>,
    region: Option<String>,
    account: Option<String>,
    role_arn: Option<String>,
    external_id: Option<String>,
}

impl RawEvidence {
    /// Checks every key, pushing each problem (named by its key) onto `errors`.
    pub(super) fn check(self, errors: &mut Vec<String>) -> Evidence {
        let mut duration =
            |key: &str, v: Option<String>, default: &str, min: Duration, max: Duration| {
                let text = v.unwrap_or_else(|| default.into());
                match humantime::parse_duration(&text) {
                    Ok(d) if d >= min && d <= max => d,
                    Ok(d) => {
                        let (what, bound) = if d < min {
                            ("shorter", min)
                        } else {
                            ("longer", max)
                        };
                        errors.push(format!(
                            "evidence.{key}: \"{text}\" is {what} than {}",
                            humantime::format_duration(bound)
                        ));
                        bound
                    }
                    Err(e) => {
                        errors.push(format!("evidence.{key}: \"{text}\" is not a duration: {e}"));
                        min
                    }
                }
            };
        let emf_interval = duration(
            "emf_interval",
            self.emf_interval,
            DEFAULT_EMF_INTERVAL,
            Duration::from_secs(1),
            HOUR,
        );
        let ingestion_margin = duration(
            "ingestion_margin",
            self.ingestion_margin,
            DEFAULT_INGESTION_MARGIN,
            Duration::ZERO,
            HOUR,
        );
        let timeout = duration("timeout", self.timeout, DEFAULT_TIMEOUT, MINUTE, 7 * DAY);
        let quiet_text = self
            .quiet_period
            .unwrap_or_else(|| DEFAULT_QUIET_PERIOD.into());
        let mut evidence = Evidence {
            sources: Vec::new(),
            quiet_period: Duration::ZERO,
            timeout,
            emf_interval,
            ingestion_margin,
        };
        match humantime::parse_duration(&quiet_text) {
            // CloudWatch keeps one-minute datapoints for 15 days; a day is plenty to prove.
            Ok(d) if d > DAY => errors.push(format!(
                "evidence.quiet_period: \"{quiet_text}\" is longer than 1day"
            )),
            Ok(d) if d >= evidence.min_quiet_period() => evidence.quiet_period = d,
            Ok(_) => errors.push(format!(
                "evidence.quiet_period: \"{quiet_text}\" is too short to prove anything: every proxy writes its counts once per emf_interval ({}) and CloudWatch sums whole minutes, so at least {} must be seen without AWSPREVIOUS (the newest {} of any period, emf_interval + ingestion_margin, are read as well but prove nothing)",
                humantime::format_duration(emf_interval),
                humantime::format_duration(evidence.min_quiet_period()),
                humantime::format_duration(evidence.blind()),
            )),
            Err(e) => errors.push(format!(
                "evidence.quiet_period: \"{quiet_text}\" is not a duration: {e}"
            )),
        }
        let single = self.namespace.is_some()
            || self.region.is_some()
            || self.account.is_some()
            || self.role_arn.is_some()
            || self.external_id.is_some();
        if single && !self.source.is_empty() {
            errors.push(
                "evidence.source: give either namespace/region/account/role_arn or [[evidence.source]] tables, not both".into(),
            );
        }
        let listed = !self.source.is_empty();
        let raw_sources = if listed {
            self.source
        } else {
            vec![RawSource {
                namespace: self.namespace,
                region: self.region,
                account: self.account,
                role_arn: self.role_arn,
                external_id: self.external_id,
            }]
        };
        for (i, s) in raw_sources.into_iter().enumerate() {
            let key = if listed {
                format!("evidence.source[{i}].")
            } else {
                "evidence.".to_owned()
            };
            evidence.sources.push(s.check(&key, errors));
        }
        evidence
    }
}

impl RawSource {
    fn check(self, key: &str, errors: &mut Vec<String>) -> Source {
        let namespace = self
            .namespace
            .unwrap_or_else(|| metrics::DEFAULT_NAMESPACE.into());
        if let Err(e) = metrics::namespace(&namespace) {
            errors.push(format!("{key}namespace: \"{namespace}\": {e}"));
        }
        let source = Source {
            namespace,
            region: self.region,
            account: self.account,
            role_arn: self.role_arn,
            external_id: self.external_id,
        };
        source.home().check(key, super::home::Regions::Own, errors);
        if let Some(account) = &source.account {
            if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
                errors.push(format!(
                    "{key}account: \"{account}\" is not a 12-digit AWS account id"
                ));
            }
        }
        source
    }
}

/// `xx-name-N` and longer forms (`us-gov-west-1`, `ap-southeast-3`): lower-case words
/// joined by '-', ending in a number.
pub(super) fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}
