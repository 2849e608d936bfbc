//! The guarded deploy's two ends (`edgeguard-sync guard begin|end`, driven by
//! `scripts/deploy-stack`): a stack update only when no rotation is under way and the last
//! one is pruned, under a lock the rotator respects, and `status` after it (crate::lock
//! says why).

use std::time::Duration;

use crate::error::SyncError;
use crate::lock::{Lock, TAG};
use crate::rotation::Rotation;
use crate::status::{self, Report};

/// Takes the deploy lock for `hold`, or refuses, changing nothing, saying why.
pub async fn begin(rotation: &Rotation, holder: &str, hold: Duration) -> Result<Lock, SyncError> {
    let staged = rotation.staged().await?;
    if let Some(lock) = staged
        .state
        .lock
        .as_ref()
        .filter(|l| l.held_at(rotation.now()))
    {
        if lock.holder != Lock::new(holder, rotation.now(), hold).holder {
            return Err(SyncError::Refused(format!(
                "another deploy holds the deploy lock ({}): wait for it, or run `edgeguard-sync guard end` if it died",
                lock.to_tag()
            )));
        }
    }
    if let Some((v, _)) = &staged.pending {
        return Err(SyncError::Refused(format!(
            "a rotation is under way (AWSPENDING on version {}): a stack update now would write AWSCURRENT over the WAF rule and the doors mid-rotation. Deploy after it finishes and is pruned (`status`)",
            v.id
        )));
    }
    if let Some((v, _)) = staged.protected_previous() {
        let left = rotation.window_left(&staged);
        return Err(SyncError::Refused(format!(
            "the last rotation is not pruned (AWSPREVIOUS on version {}, dual-accept window {} left): a stack update now could narrow the WAF rule to AWSCURRENT and drop the old value. Deploy once `prune` has run (the scheduled prune does it after the window and the evidence)",
            v.id,
            humantime::format_duration(Duration::from_secs(left.as_secs()))
        )));
    }
    let report = status::status(rotation).await?;
    if !report.drift.is_empty() {
        return Err(SyncError::Refused(format!(
            "`status` shows drift; put it right before deploying: {}",
            report.drift.join("; ")
        )));
    }
    let lock = Lock::new(holder, rotation.now(), hold);
    rotation.store().tag(TAG, &lock.to_tag()).await?;
    // Secrets Manager has no conditional write: a rotation may have started between the
    // read above and the tag. Read again; if one did, let it go on and refuse.
    if let Some((v, _)) = &rotation.staged().await?.pending {
        rotation.store().untag(TAG).await?;
        return Err(SyncError::Refused(format!(
            "a rotation started meanwhile (AWSPENDING on version {}); the lock is released: deploy after it",
            v.id
        )));
    }
    Ok(lock)
}

/// Releases the deploy lock, then reads `status`: the caller fails loudly on drift (a
/// stack update that rewrote an owned field while it should not have).
pub async fn end(rotation: &Rotation) -> Result<Report, SyncError> {
    rotation.store().untag(TAG).await?;
    status::status(rotation).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rotation::fake::{TIMING, World, one_of_each as rotation};

    #[tokio::test(start_paused = true)]
    async fn the_lock_is_taken_only_between_rotations_and_the_rotator_respects_it() {
        let (world, _) = World::new(1, 1);
        let r = rotation(&world);
        // During a rotation: refused.
        r.create("t-1").await.unwrap();
        let e = begin(&r, "deploy", Duration::from_secs(3600))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("a rotation is under way"), "{e}");
        // In the window: refused.
        r.rotate(true).await.unwrap();
        let e = begin(&r, "deploy", Duration::from_secs(3600))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("not pruned"), "{e}");
        assert!(
            world.state().tags.iter().all(|(k, _)| k != TAG),
            "no lock taken"
        );
        // Pruned: taken.
        tokio::time::advance(TIMING.dual_accept_window).await;
        r.prune(false).await.unwrap();
        let lock = begin(&r, "deploy #7", Duration::from_secs(3600))
            .await
            .unwrap();
        assert_eq!(lock.holder, "deploy _7");
        let shown = status::status(&r).await.unwrap().text();
        assert!(
            shown.contains("a stack deploy holds the deploy lock (deploy _7; until"),
            "{shown}"
        );
        // While it is held: no new rotation, no prune; another deploy is refused too.
        world.register_pending("t-2");
        let e = r.create("t-2").await.unwrap_err();
        assert!(e.to_string().contains("deploy lock (deploy _7"), "{e}");
        assert!(
            world.state().stage("AWSPENDING").is_none(),
            "no value put while locked"
        );
        let e = r.prune(false).await.unwrap_err();
        assert!(e.to_string().contains("the prune waits"), "{e}");
        let e = begin(&r, "someone else", Duration::from_secs(60))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("another deploy holds"), "{e}");
        // Released: the rotation goes on.
        let report = end(&r).await.unwrap();
        assert!(report.drift.is_empty(), "{:?}", report.drift);
        r.create("t-2").await.unwrap();
        world.assert_no_violations();
    }

    #[tokio::test(start_paused = true)]
    async fn an_expired_lock_holds_nothing() {
        let (world, _) = World::new(1, 1);
        let r = rotation(&world);
        begin(&r, "deploy", Duration::from_secs(60)).await.unwrap();
        tokio::time::advance(Duration::from_secs(61)).await;
        r.create("t-1").await.unwrap();
    }
}
