//! Redis, when `cache.url` is set: what every replica must share (tenants' rate budgets).
//!
//! Every key of a tenant is `t:<slug>:…` (`Slug::cache_key`), so a purge can find them all
//! with one pattern, and nothing of the server's own lives under `t:`.
//!
//! Redis is not the truth of anything: when it does not answer, what depends on it fails
//! open (limits admit), the failure is counted and `/readyz` carries a note; tenant data
//! keeps being served.

use std::path::Path;
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
    #[error("cache.ca_file {path}: {source}")]
    CaFile {
        path: String,
        source: std::io::Error,
    },
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
}

pub struct Cache {
    /// For a connection of its own at start (the manager's errors lose their cause).
    client: redis::Client,
    conn: ConnectionManager,
    /// Calls that failed (Redis down or slow).
    failures: AtomicU64,
    /// The last failure, until a call succeeds again.
    problem: Mutex<Option<String>>,
}

impl Cache {
    /// Connects lazily: a Redis that is down does not stop the server from starting.
    /// `ca_file` (with `rediss://`) replaces the system's roots for Redis's certificate.
    pub fn connect(url: &Secret, ca_file: Option<&Path>) -> Result<Cache, CacheError> {
        let client = match ca_file {
            None => redis::Client::open(url.expose()),
            Some(path) => {
                let root_cert = std::fs::read(path).map_err(|source| CacheError::CaFile {
                    path: path.display().to_string(),
                    source,
                })?;
                let certificates = redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(root_cert),
                };
                redis::Client::build_with_tls(url.expose(), certificates)
            }
        }
        .map_err(CacheError::Url)?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .map_err(CacheError::Url)?;
        Ok(Cache {
            client,
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

    /// Whether Redis refuses us for good: its certificate or our password. A Redis that is
    /// merely down is `Ok` (it may come back; limits fail open meanwhile).
    pub async fn probe(&self) -> Result<(), CacheError> {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT));
        let answer = match self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
        {
            Ok(mut conn) => redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .map(drop),
            Err(e) => Err(e),
        };
        match answer {
            Err(e) if is_configuration_fault(&e) => Err(CacheError::Redis(e)),
            Err(e) => {
                tracing::warn!(error = %e, "Redis unavailable at start; rate limits are not enforced until it is back");
                Ok(())
            }
            Ok(()) => Ok(()),
        }
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

/// A refused certificate, password or user: what will not mend by itself.
fn is_configuration_fault(e: &redis::RedisError) -> bool {
    e.kind() == redis::ErrorKind::AuthenticationFailed
        || tenantry_client::tls::is_handshake_refusal(e)
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
