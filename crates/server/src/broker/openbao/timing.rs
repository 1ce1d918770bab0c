//! When a held lease is renewed, replaced and given up: arithmetic on tokio's clock, kept
//! apart from the HTTP calls so the rules can be tested with a paused clock.
//!
//! A lease is renewed at about two thirds of its TTL. When renewing can no longer give a
//! full TTL (its maximum is near), a fresh lease replaces it while the old one still has
//! time left for pools to move their connections over: they recycle connections within a
//! quarter TTL ([`super::OpenBaoBroker::connection_lifetime`]), so no connection outlives
//! its login role.

use std::time::Duration;

use tokio::time::Instant;

/// What a held lease needs now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    Nothing,
    /// Renew it; a renewal that grants less than [`enough`] is followed by a replacement.
    Renew,
    /// Lease a fresh one: renewing could not give a full TTL any more.
    Replace,
}

/// A held lease's timeline.
#[derive(Debug, Clone, Copy)]
pub struct LeaseTimes {
    born: Instant,
    expires: Instant,
    renew_at: Instant,
}

impl LeaseTimes {
    /// A lease granted now for `duration`.
    pub fn granted(duration: Duration) -> LeaseTimes {
        let now = Instant::now();
        LeaseTimes {
            born: now,
            expires: now + duration,
            renew_at: now + duration * 2 / 3,
        }
    }

    /// Whether the lease may still be handed to new connections: more than `margin` left.
    pub fn live(&self, margin: Duration) -> bool {
        self.expires > Instant::now() + margin
    }

    /// What the lease needs now, for a role with this TTL and maximum TTL.
    pub fn due(&self, ttl: Duration, max_ttl: Duration) -> Due {
        let now = Instant::now();
        if self.renew_at > now {
            Due::Nothing
        } else if now + ttl >= self.born + max_ttl {
            Due::Replace
        } else {
            Due::Renew
        }
    }

    /// The lease was renewed for `granted` from now.
    pub fn renewed(&mut self, granted: Duration) {
        let now = Instant::now();
        self.expires = now + granted;
        self.renew_at = now + granted * 2 / 3;
    }

    /// Renewing or replacing failed: look again after `retry_in`; the lease stays in use
    /// until it expires.
    pub fn retry_after(&mut self, retry_in: Duration) {
        self.renew_at = Instant::now() + retry_in;
    }

    /// How long the lease has left.
    #[cfg(test)]
    pub fn remaining(&self) -> Duration {
        self.expires.saturating_duration_since(Instant::now())
    }
}

/// Whether a renewal that granted `granted` is worth keeping; a shorter one is replaced.
pub fn enough(granted: Duration, ttl: Duration) -> bool {
    granted >= ttl / 2
}

/// How often the renewal task looks at the held leases.
pub fn tick(ttl: Duration) -> Duration {
    (ttl / 10).clamp(Duration::from_millis(200), Duration::from_secs(30))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[tokio::test(start_paused = true)]
    async fn a_lease_is_renewed_at_two_thirds_of_its_ttl() {
        let ttl = 60 * S;
        let lease = LeaseTimes::granted(ttl);
        tokio::time::advance(39 * S).await;
        assert_eq!(lease.due(ttl, 10 * ttl), Due::Nothing);
        tokio::time::advance(S).await;
        assert_eq!(lease.due(ttl, 10 * ttl), Due::Renew);
        assert!(lease.live(5 * S));
    }

    #[tokio::test(start_paused = true)]
    async fn near_its_maximum_a_lease_is_replaced_not_renewed() {
        let (ttl, max) = (60 * S, 100 * S);
        let mut lease = LeaseTimes::granted(ttl);
        tokio::time::advance(40 * S).await;
        assert_eq!(
            lease.due(ttl, max),
            Due::Replace,
            "a renewal now would end at 100 s"
        );
        lease.retry_after(S);
        assert_eq!(
            lease.due(ttl, max),
            Due::Nothing,
            "a failed replacement waits"
        );
        tokio::time::advance(S).await;
        assert_eq!(lease.due(ttl, max), Due::Replace);
    }

    #[test]
    fn a_short_renewal_is_not_enough() {
        assert!(enough(30 * S, 60 * S));
        assert!(!enough(29 * S, 60 * S));
    }

    /// The renewal task's loop, on a paused clock, for many TTLs and maxima: a lease in
    /// use never gets closer to its expiry than a pooled connection lives, so every
    /// connection is recycled before its login role is dropped.
    #[tokio::test(start_paused = true)]
    async fn no_connection_outlives_its_lease() {
        for ttl in [10 * S, 60 * S, 300 * S, 3600 * S] {
            for max in [ttl, ttl * 2, ttl * 7 / 2, 24 * 3600 * S] {
                let connection_lifetime = (ttl / 4).min(1800 * S);
                let tick = tick(ttl);
                let mut lease = LeaseTimes::granted(ttl);
                let (mut renewals, mut replacements) = (0, 0);
                let end = Instant::now() + max * 3;
                while Instant::now() < end {
                    tokio::time::advance(tick).await;
                    assert!(
                        lease.remaining() > Duration::ZERO,
                        "ttl {ttl:?} max {max:?}: the lease expired while in use"
                    );
                    match lease.due(ttl, max) {
                        Due::Nothing => {}
                        Due::Renew => {
                            // OpenBAO grants a full TTL until the maximum is near.
                            lease.renewed(ttl);
                            renewals += 1;
                        }
                        Due::Replace => {
                            assert!(
                                lease.remaining() >= connection_lifetime,
                                "ttl {ttl:?} max {max:?}: replaced with {:?} left, less than a connection's {connection_lifetime:?}",
                                lease.remaining()
                            );
                            lease = LeaseTimes::granted(ttl);
                            replacements += 1;
                        }
                    }
                }
                assert!(replacements > 0, "ttl {ttl:?} max {max:?}: never replaced");
                if max > ttl * 2 {
                    assert!(renewals > 0, "ttl {ttl:?} max {max:?}: never renewed");
                }
            }
        }
    }
}
