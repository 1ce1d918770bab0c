//! GCRA in Redis, for budgets every replica shares: the same step as in process
//! (`rate::step`), run atomically in one Lua script on Redis's own clock, so replicas whose
//! clocks differ still agree. The key expires when the budget is full again.
//!
//! A refusal is remembered here until the moment Redis said one more request could be
//! admitted: a budget's theoretical arrival time only moves forward, whichever replica
//! spends it, so nothing can be admitted sooner. A tenant flooding at many times its rate
//! then costs Redis (and the cores it shares) about two calls per interval instead of one
//! per request; and no request is refused that Redis would have admitted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::Script;
use uuid::Uuid;

use super::{Budget, Rate, Refusal};
use crate::cache::Cache;
use crate::names::Slug;

/// KEYS[1] the budget; ARGV[1] the interval and ARGV[2] the tolerance, in µs. Returns
/// {admitted, µs until one more is admitted, µs until the budget is full}.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local nxt = tat + interval
local ahead = nxt - now
if ahead > tolerance then
  return {0, ahead - tolerance, ahead - interval}
end
redis.call('SET', KEYS[1], string.format('%d', nxt), 'PX', math.ceil(ahead / 1000) + 1)
return {1, 0, 0}
";

/// Remembered refusals beyond which the memory is swept of expired ones.
const SWEEP_ABOVE: usize = 4_096;

/// A budget, at a rate (a changed rate asks Redis afresh).
type BudgetKey = (Uuid, Budget, Rate);

pub struct Shared {
    cache: Arc<Cache>,
    script: Script,
    /// Refusals Redis answered, until they expire: (when, what Redis said).
    refused: Mutex<HashMap<BudgetKey, (Instant, Refusal)>>,
}

impl Shared {
    pub fn new(cache: Arc<Cache>) -> Shared {
        Shared {
            cache,
            script: Script::new(GCRA),
            refused: Mutex::default(),
        }
    }

    /// Admits or refuses; a Redis that does not answer admits (fail open, counted).
    pub async fn admit(
        &self,
        tenant: Uuid,
        slug: &Slug,
        budget: Budget,
        rate: Rate,
    ) -> Result<(), Refusal> {
        let memo = (tenant, budget, rate);
        if let Some(refusal) = self.still_refused(&memo) {
            return Err(refusal);
        }
        let refusal = self.ask_redis(slug, budget, rate).await;
        if let Err(refusal) = &refusal {
            self.remember(memo, *refusal);
        }
        refusal
    }

    /// A refusal Redis gave that still holds, with its times counted down.
    fn still_refused(&self, memo: &BudgetKey) -> Option<Refusal> {
        let mut refused = self.lock();
        let (at, refusal) = *refused.get(memo)?;
        let elapsed = at.elapsed();
        if elapsed >= refusal.retry_after {
            refused.remove(memo);
            return None;
        }
        Some(Refusal {
            retry_after: refusal.retry_after - elapsed,
            reset: refusal.reset.saturating_sub(elapsed),
            ..refusal
        })
    }

    fn remember(&self, memo: BudgetKey, refusal: Refusal) {
        let mut refused = self.lock();
        if refused.len() >= SWEEP_ABOVE {
            refused.retain(|_, (at, r)| at.elapsed() < r.retry_after);
        }
        refused.insert(memo, (Instant::now(), refusal));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<BudgetKey, (Instant, Refusal)>> {
        self.refused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn ask_redis(&self, slug: &Slug, budget: Budget, rate: Rate) -> Result<(), Refusal> {
        let interval = 1_000_000 / u64::from(rate.per_second.max(1));
        let tolerance = interval * u64::from(rate.burst.max(1));
        let key = slug.cache_key(&format!("rl:{}", budget.as_str()));
        let mut conn = self.cache.conn();
        let answer: Result<(u8, u64, u64), redis::RedisError> = self
            .script
            .key(key)
            .arg(interval)
            .arg(tolerance)
            .invoke_async(&mut conn)
            .await;
        self.cache.observe(&answer);
        match answer {
            Ok((0, retry_after, reset)) => Err(Refusal {
                rate,
                retry_after: Duration::from_micros(retry_after),
                reset: Duration::from_micros(reset),
            }),
            _ => Ok(()),
        }
    }
}
