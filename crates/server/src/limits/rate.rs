//! GCRA in this process: per (tenant, budget), the theoretical arrival time of the next
//! request (TAT). A request at `now` moves it to `max(TAT, now) + 1/rate`; it is admitted
//! if that is no further ahead of `now` than `burst/rate`. Over any window `W` at most
//! `burst + rate × W` requests get in.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::{Budget, Rate, Refusal};

/// Shards of the budget map: requests of different tenants rarely wait for one lock.
const SHARDS: usize = 16;
/// A shard this large drops the budgets that are full again (as good as absent).
const PRUNE_AT: usize = 4096;

pub struct InProcess {
    epoch: Instant,
    /// TAT in µs after `epoch`, per (tenant, budget).
    shards: [Mutex<HashMap<(Uuid, Budget), u64>>; SHARDS],
}

impl Default for InProcess {
    fn default() -> Self {
        InProcess {
            epoch: Instant::now(),
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
        }
    }
}

/// One GCRA step at `now` (µs): the new TAT, or the refusal.
pub fn step(tat: Option<u64>, now: u64, rate: Rate) -> Result<u64, Refusal> {
    let interval = 1_000_000 / u64::from(rate.per_second.max(1));
    let tolerance = interval * u64::from(rate.burst.max(1));
    let next = tat.unwrap_or(0).max(now) + interval;
    let ahead = next - now;
    if ahead > tolerance {
        return Err(Refusal {
            rate,
            retry_after: Duration::from_micros(ahead - tolerance),
            reset: Duration::from_micros(ahead - interval),
        });
    }
    Ok(next)
}

impl InProcess {
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }
}

impl InProcess {
    pub fn admit(&self, tenant: Uuid, budget: Budget, rate: Rate) -> Result<(), Refusal> {
        let key = (tenant, budget);
        let shard = &self.shards[(tenant.as_u128() as usize) % SHARDS];
        let now = self.now();
        let mut map = shard
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let next = step(map.get(&key).copied(), now, rate)?;
        if map.len() >= PRUNE_AT {
            map.retain(|_, tat| *tat > now);
        }
        map.insert(key, next);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: Rate = Rate {
        per_second: 10,
        burst: 5,
    };

    #[test]
    fn a_burst_gets_in_at_once_then_the_rate_and_no_more() {
        let mut tat = None;
        // Five at the same instant: the burst.
        for _ in 0..5 {
            tat = Some(step(tat, 0, RATE).unwrap_or_else(|r| panic!("{r:?}")));
        }
        let refused = step(tat, 0, RATE);
        assert!(
            matches!(refused, Err(r) if r.retry_after == Duration::from_millis(100)),
            "{refused:?}"
        );
        // A tenth of a second later, one more.
        let later = 100_000;
        tat = Some(step(tat, later, RATE).unwrap_or_else(|r| panic!("{r:?}")));
        assert!(step(tat, later, RATE).is_err());
    }

    #[test]
    fn over_any_window_no_more_than_burst_plus_rate_times_window() {
        // One attempt every millisecond for ten seconds.
        let (mut tat, mut admitted) = (None, 0u64);
        for ms in 0..10_000u64 {
            if let Ok(next) = step(tat, ms * 1000, RATE) {
                tat = Some(next);
                admitted += 1;
            }
        }
        assert!(admitted <= 5 + 10 * 10, "{admitted}");
        assert!(admitted >= 10 * 10, "{admitted}");
    }

    #[test]
    fn tenants_and_budgets_do_not_share() {
        let limiter = InProcess::default();
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let one = Rate {
            per_second: 1,
            burst: 1,
        };
        assert!(limiter.admit(a, Budget::Requests, one).is_ok());
        assert!(limiter.admit(a, Budget::Requests, one).is_err());
        assert!(limiter.admit(a, Budget::Checkins, one).is_ok());
        assert!(limiter.admit(b, Budget::Requests, one).is_ok());
    }
}
