//! When the soak's events happen, scaled to its duration: at an hour, the file source
//! rotates every minute, the Secrets Manager stages every five, the app is killed every
//! four (down 10 s), and Secrets Manager is unreachable once for a minute. A short run
//! (the smoke in scripts/test) gets every kind of event at least once.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    RotateFile,
    RotateStages,
    KillApp { down: Duration },
    SecretsOutage { length: Duration },
}

fn clamp(d: Duration, low: u64, high: u64) -> Duration {
    d.clamp(Duration::from_secs(low), Duration::from_secs(high))
}

/// The events and when each is due (from the start of the load), in order. Events run one
/// after another, so one that overruns delays the next (none overlap).
pub fn plan(total: Duration) -> Vec<(Duration, Event)> {
    let last = total.saturating_sub(Duration::from_secs(5));
    let mut events = Vec::new();
    let mut every = |interval: Duration, offset: Duration, event: Event| {
        let mut at = offset;
        while at < last {
            events.push((at, event));
            at += interval;
        }
    };
    let file = clamp(total / 5, 10, 60);
    every(file, file, Event::RotateFile);
    let stages = clamp(total / 3, 20, 300);
    every(stages, stages / 2, Event::RotateStages);
    let kill = clamp(total / 3, 20, 240);
    let down = clamp(total / 20, 3, 10);
    every(kill, kill * 3 / 10, Event::KillApp { down });
    let length = clamp(total / 8, 10, 60);
    events.push((total * 9 / 20, Event::SecretsOutage { length }));
    events.sort_by_key(|(at, _)| *at);
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(plan: &[(Duration, Event)], f: impl Fn(&Event) -> bool) -> usize {
        plan.iter().filter(|(_, e)| f(e)).count()
    }

    #[test]
    fn an_hour_rotates_the_file_every_minute_and_the_stages_every_five() {
        let p = plan(Duration::from_secs(3600));
        assert_eq!(count(&p, |e| *e == Event::RotateFile), 59);
        assert_eq!(count(&p, |e| *e == Event::RotateStages), 12);
        assert_eq!(count(&p, |e| matches!(e, Event::KillApp { .. })), 15);
        assert!(p.contains(&(
            Duration::from_secs(1620),
            Event::SecretsOutage {
                length: Duration::from_secs(60)
            }
        )));
        assert!(p.windows(2).all(|w| w[0].0 <= w[1].0));
    }

    #[test]
    fn a_short_run_has_every_kind_of_event() {
        let p = plan(Duration::from_secs(90));
        assert!(count(&p, |e| *e == Event::RotateFile) >= 2);
        assert!(count(&p, |e| *e == Event::RotateStages) >= 2);
        assert!(count(&p, |e| matches!(e, Event::KillApp { .. })) >= 1);
        assert_eq!(count(&p, |e| matches!(e, Event::SecretsOutage { .. })), 1);
    }
}
