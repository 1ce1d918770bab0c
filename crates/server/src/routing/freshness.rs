//! How long ago this process last knew its snapshot to be current.
//!
//! With several servers on one registry, a server learns of another's changes through
//! its listener. While the listener is connected and answering, the snapshot is at most a
//! notification behind. When it is not (the registry unreachable from here, a partition),
//! the snapshot may be wrong — a suspended tenant still served, a removed key still
//! accepted — and nothing here would know. So past `routing.max_staleness` without a
//! confirmation the server refuses what depends on the snapshot (503 `routing_stale`) and
//! says so in `/readyz`, which takes it out of a load balancer: refused loudly, not
//! guessed. A process alone with its registry (SQLite) is never stale.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub struct Freshness {
    epoch: Instant,
    /// Milliseconds after `epoch` of the last confirmation.
    confirmed_ms: AtomicU64,
    /// Set when a listener watches the registry; unset, never stale.
    limit: OnceLock<Duration>,
}

/// A moment of this process, from [`Freshness::stamp`].
#[derive(Debug, Clone, Copy)]
pub struct Stamp(u64);

/// The snapshot went unconfirmed for longer than allowed.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the routing snapshot has not been confirmed current for {0:?}")]
pub struct Stale(pub Duration);

impl Default for Freshness {
    fn default() -> Freshness {
        Freshness {
            epoch: Instant::now(),
            confirmed_ms: AtomicU64::new(0),
            limit: OnceLock::new(),
        }
    }
}

impl Freshness {
    /// From now on, older than `limit` is stale.
    pub fn watch(&self, limit: Duration) {
        self.confirm();
        let _ = self.limit.set(limit);
    }

    /// Nothing announced before now is missing.
    pub fn confirm(&self) {
        self.confirm_as_of(self.stamp());
    }

    /// Now, to confirm later as of now (a full reload is current as of when it began).
    pub fn stamp(&self) -> Stamp {
        Stamp(self.epoch.elapsed().as_millis() as u64)
    }

    pub fn confirm_as_of(&self, stamp: Stamp) {
        self.confirmed_ms.fetch_max(stamp.0, Ordering::Relaxed);
    }

    pub fn check(&self) -> Result<(), Stale> {
        self.check_at(self.epoch.elapsed())
    }

    /// As [`Freshness::check`], `now` after this process's epoch.
    fn check_at(&self, now: Duration) -> Result<(), Stale> {
        let Some(limit) = self.limit.get() else {
            return Ok(());
        };
        let confirmed = Duration::from_millis(self.confirmed_ms.load(Ordering::Relaxed));
        let age = now.saturating_sub(confirmed);
        if age > *limit {
            Err(Stale(age))
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::Freshness;

    #[test]
    fn unwatched_is_never_stale_and_watched_goes_stale_without_confirmations() {
        let f = Freshness::default();
        let later = Duration::from_secs(3600);
        assert!(f.check_at(later).is_ok(), "nobody watches: never stale");
        f.watch(Duration::from_secs(10));
        assert!(f.check_at(Duration::from_secs(9)).is_ok());
        let stale = f.check_at(Duration::from_secs(11));
        assert!(stale.is_err(), "no confirmation for longer than the limit");
        f.confirm();
        assert!(f.check().is_ok(), "confirmed just now");
    }
}
