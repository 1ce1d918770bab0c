//! Redis, when `cache.url` is set: what every replica must share (tenants' rate budgets).
//!
//! Every key of a tenant is `t:<slug>:…` (`Slug::cache_key`), so a purge can find them all
//! with one pattern, and nothing of the server's own lives under `t:`.
//!
//! Redis is not the truth of anything: when it does not answer, what depends on it fails
//! open (limits admit), the failure is counted and `/readyz` carries a note; tenant data
//! keeps being served.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::names::Slug;
use crate::secret::Secret;

/// How long one Redis call may take before it counts as failed: a limit check is on
/// every request's path.
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(250);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Keys per SCAN round when purging a tenant.
const SCAN_COUNT: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cache.url: {0}")]
    Url(redis::RedisError),
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
}

pub struct Cache {
    conn: ConnectionManager,
    /// Calls that failed (Redis down or slow).
    failures: AtomicU64,
    /// The last failure, until a call succeeds again.
    problem: Mutex<Option<String>>,
}

impl Cache {
    /// Connects lazily: a Redis that is down does not stop the server from starting.
    pub fn connect(url: &Secret) -> Result<Cache, CacheError> {
        let client = redis::Client::open(url.expose()).map_err(CacheError::Url)?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn =
            ConnectionManager::new_lazy_with_config(client, config).map_err(CacheError::Url)?;
        Ok(Cache {
            conn,
            failures: AtomicU64::new(0),
            problem: Mutex::new(None),
        })
    }

    /// A connection to send commands on (cheap: one multiplexed connection underneath).
    pub fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// Records how a call went, for `/readyz` and `/metrics`.
    pub fn observe<T>(&self, result: &Result<T, redis::RedisError>) {
        let mut problem = self
            .problem
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match result {
            Ok(_) => *problem = None,
            Err(e) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                if problem.is_none() {
                    tracing::warn!(error = %e, "Redis is not answering; rate limits are not enforced until it is back");
                }
                *problem = Some(e.to_string());
            }
        }
    }

    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Why the last call failed, while nothing has succeeded since.
    pub fn problem(&self) -> Option<String> {
        self.problem
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Whether Redis answers now.
    pub async fn ping(&self) -> Result<(), CacheError> {
        let mut conn = self.conn();
        let answer: Result<String, redis::RedisError> =
            redis::cmd("PING").query_async(&mut conn).await;
        self.observe(&answer);
        answer.map(drop).map_err(CacheError::from)
    }

    /// The tenant's keys (all of them, by SCAN).
    pub async fn tenant_keys(&self, slug: &Slug) -> Result<Vec<String>, CacheError> {
        let pattern = format!("{}*", escape_glob(&slug.cache_prefix()));
        let mut conn = self.conn();
        let mut keys = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(SCAN_COUNT)
                .query_async(&mut conn)
                .await?;
            keys.extend(batch);
            if next == 0 {
                return Ok(keys);
            }
            cursor = next;
        }
    }

    /// Deletes every key of the tenant; how many there were.
    pub async fn purge_tenant(&self, slug: &Slug) -> Result<u64, CacheError> {
        let keys = self.tenant_keys(slug).await?;
        if keys.is_empty() {
            return Ok(0);
        }
        let mut conn = self.conn();
        let removed: u64 = conn.del(&keys).await?;
        Ok(removed)
    }
}

/// A slug holds only `a-z`, `0-9` and `-`; escape anything glob-special all the same, so a
/// pattern can never match another tenant's keys.
fn escape_glob(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
