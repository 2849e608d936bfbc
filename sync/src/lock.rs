//! The deploy lock: a stack update and the rotator never fight over the secret.
//!
//! CloudFormation writes AWSCURRENT into the WAF rule, the REST stage variable, the HTTP
//! API mapping and the CloudFront header whenever an update modifies one of them (it
//! re-resolves `{{resolve:secretsmanager:…}}` then): mid-rotation that narrows the WAF
//! while the doors send the new value, and inside the window it drops AWSPREVIOUS. So a
//! deploy takes this lock first (`edgeguard-sync guard begin`), only when no rotation is
//! under way and AWSPREVIOUS is pruned; while it is held, a new rotation (createSecret,
//! `rotate`) and prune refuse. It is a tag on the secret, `edgeguard:deploy-lock` =
//! `<holder>; until <RFC 3339>`, that expires by itself: a deploy that died never blocks
//! rotations for longer than it said.

use std::time::{Duration, SystemTime};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::SyncError;

/// The tag that holds the lock.
pub const TAG: &str = "edgeguard:deploy-lock";

/// Who holds the lock, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    pub holder: String,
    pub until: SystemTime,
}

impl Lock {
    /// Tag values are at most 256 characters of letters, digits, spaces and `_.:/=+-@`
    /// (TagResource, AWS Secrets Manager API Reference): the holder is kept to those.
    pub fn new(holder: &str, now: SystemTime, hold: Duration) -> Self {
        let holder: String = holder
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || " _.:/=+-@".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .take(180)
            .collect();
        Self {
            holder,
            until: now + hold,
        }
    }

    pub fn held_at(&self, now: SystemTime) -> bool {
        now < self.until
    }

    pub fn to_tag(&self) -> String {
        let until = OffsetDateTime::from(self.until)
            .format(&Rfc3339)
            .unwrap_or_default();
        format!("{}; until {until}", self.holder)
    }

    /// The lock a tag value describes; `None` for one this tool did not write.
    pub fn from_tag(value: &str) -> Option<Self> {
        let (holder, until) = value.rsplit_once("; until ")?;
        let until = OffsetDateTime::parse(until, &Rfc3339).ok()?;
        Some(Self {
            holder: holder.to_owned(),
            until: until.into(),
        })
    }

    fn until_text(&self) -> String {
        OffsetDateTime::from(self.until)
            .format(&Rfc3339)
            .unwrap_or_default()
    }

    /// The refusal of `what` (a new rotation, a prune) while the lock is held.
    pub fn refuses(&self, what: &str) -> SyncError {
        SyncError::Refused(format!(
            "{what} waits: a stack deploy holds the deploy lock ({}, until {}), and CloudFormation would write AWSCURRENT over what the rotation sets. It is released by `edgeguard-sync guard end` (or expires)",
            self.holder,
            self.until_text()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tag_round_trips_and_keeps_only_what_a_tag_may_hold() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_474_096);
        let lock = Lock::new(
            "deploy by ana <ana@example.com>; #42",
            now,
            Duration::from_secs(3600),
        );
        assert_eq!(lock.holder, "deploy by ana _ana@example.com__ _42");
        let tag = lock.to_tag();
        assert!(tag.len() <= 256, "{tag}");
        assert_eq!(
            tag,
            "deploy by ana _ana@example.com__ _42; until 2026-12-05T13:34:56Z"
        );
        assert_eq!(Lock::from_tag(&tag), Some(lock.clone()));
        assert!(lock.held_at(now) && !lock.held_at(now + Duration::from_secs(3600)));
        assert_eq!(Lock::from_tag("someone else's tag"), None);
        let long = Lock::new(&"x".repeat(500), now, Duration::ZERO).to_tag();
        assert!(long.len() <= 256);
    }
}
