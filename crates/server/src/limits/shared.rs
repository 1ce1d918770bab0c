//! GCRA in Redis, for budgets every replica shares: the same step as in process
//! (`rate::step`), run atomically in one Lua script on Redis's own clock, so replicas whose
//! clocks differ still agree. The key expires when the budget is full again.

use std::sync::Arc;
use std::time::Duration;

use redis::Script;

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

pub struct Shared {
    cache: Arc<Cache>,
    script: Script,
}

impl Shared {
    pub fn new(cache: Arc<Cache>) -> Shared {
        Shared {
            cache,
            script: Script::new(GCRA),
        }
    }

    /// Admits or refuses; a Redis that does not answer admits (fail open, counted).
    pub async fn admit(&self, slug: &Slug, budget: Budget, rate: Rate) -> Result<(), Refusal> {
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
