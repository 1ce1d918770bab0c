//! Every catalog operation runs through [`Catalog::run`]: timed into a histogram by
//! operation (exported at `/metrics`), and run again when that is known to be safe — the
//! registry rolled the whole operation back (a serialization failure or a deadlock), or a
//! read lost its connection (reading again changes nothing). A write that lost its
//! connection is not retried: it may have committed. The facade follows neon's catalog
//! (DESIGN.md §7).

use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::Catalog;
use crate::store::is_unreachable;

/// How many times an operation is tried at most.
const ATTEMPTS: u32 = 3;

/// What may safely be run again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Only reads: also after a lost connection.
    Read,
    /// Writes: only what the registry rolled back.
    Write,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Labels {
    operation: &'static str,
    outcome: &'static str,
}

/// The catalog's histogram and the registry it is exported from.
pub struct CatalogMetrics {
    registry: Registry,
    seconds: Family<Labels, Histogram>,
}

impl std::fmt::Debug for CatalogMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CatalogMetrics")
    }
}

impl Default for CatalogMetrics {
    fn default() -> Self {
        // 0.25 ms to about 4 s.
        let seconds = Family::<Labels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.000_25, 2.0, 15))
        });
        let mut registry = Registry::default();
        registry.register(
            "tenantry_catalog_operation_seconds",
            "Registry (catalog) operations by name and outcome (ok, error), retries included.",
            seconds.clone(),
        );
        CatalogMetrics { registry, seconds }
    }
}

impl CatalogMetrics {
    fn observe(&self, operation: &'static str, ok: bool, took: Duration) {
        let outcome = if ok { "ok" } else { "error" };
        self.seconds
            .get_or_create(&Labels { operation, outcome })
            .observe(took.as_secs_f64());
    }

    /// Appends the histogram in the text exposition format.
    pub fn encode(&self, out: &mut String) -> std::fmt::Result {
        prometheus_client::encoding::text::encode_registry(out, &self.registry)
    }
}

/// Whether the registry rolled the operation back (SQLSTATE 40001, 40P01).
fn rolled_back(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("40001" | "40P01")))
}

pub(super) fn retryable(e: &sqlx::Error, retry: Retry) -> bool {
    rolled_back(e)
        || (retry == Retry::Read && is_unreachable(e) && !matches!(e, sqlx::Error::PoolTimedOut))
}

/// One catalog operation in progress: its name, what may be retried, its attempts and
/// when it began. [`op!`] runs the body until [`Attempt::settle`] says it is done.
pub struct Attempt {
    operation: &'static str,
    retry: Retry,
    attempt: u32,
    started: Instant,
}

impl Attempt {
    pub fn start(operation: &'static str, retry: Retry) -> Attempt {
        Attempt {
            operation,
            retry,
            attempt: 1,
            started: Instant::now(),
        }
    }

    /// `None`: run the body again (after a moment for a conflicting transaction to
    /// finish). Otherwise the operation's result, timed.
    pub async fn settle<T>(
        &mut self,
        catalog: &Catalog,
        result: Result<T, sqlx::Error>,
    ) -> Option<Result<T, sqlx::Error>> {
        if let Err(e) = &result
            && self.attempt < ATTEMPTS
            && retryable(e, self.retry)
        {
            tracing::debug!(operation = self.operation, attempt = self.attempt, error = %e, "catalog operation retried");
            tokio::time::sleep(Duration::from_millis(5 * u64::from(self.attempt))).await;
            self.attempt += 1;
            return None;
        }
        catalog
            .metrics
            .observe(self.operation, result.is_ok(), self.started.elapsed());
        Some(result)
    }
}

impl Catalog {
    pub fn metrics(&self) -> &CatalogMetrics {
        &self.metrics
    }
}

/// One catalog operation over the registry pool, timed and retried:
/// `op!(self, "name", Read | Write, pool => body)`, where `body` may use `?` on driver
/// errors and is run again on a retry. Its value is the body's; a failure returns from
/// the enclosing function as a [`super::CatalogError`].
macro_rules! op {
    ($catalog:expr, $name:literal, $retry:ident, $pool:ident => $body:expr) => {{
        let mut attempt = $crate::catalog::measure::Attempt::start(
            $name,
            $crate::catalog::measure::Retry::$retry,
        );
        loop {
            let result: Result<_, sqlx::Error> =
                async { Ok($crate::with_db!(&$catalog.db, $pool => $body)) }.await;
            if let Some(result) = attempt.settle(&$catalog, result).await {
                break result;
            }
        }?
    }};
}
pub(super) use op;

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::catalog::CatalogError;
    use crate::store::Db;

    async fn catalog() -> Result<Catalog, sqlx::Error> {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await?;
        Ok(Catalog::new(Db::Sqlite(pool)))
    }

    fn dropped() -> sqlx::Error {
        sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset))
    }

    /// Fails with a lost connection the first time, then answers.
    async fn flaky(catalog: &Catalog, calls: &AtomicU32, write: bool) -> Result<i64, CatalogError> {
        let first = || calls.fetch_add(1, Ordering::SeqCst) == 0;
        Ok(if write {
            op!(catalog, "flaky_write", Write, pool => {
                if first() { return Err(dropped()) }
                sqlx::query_scalar("SELECT 1").fetch_one(pool).await?
            })
        } else {
            op!(catalog, "flaky_read", Read, pool => {
                if first() { return Err(dropped()) }
                sqlx::query_scalar("SELECT 1").fetch_one(pool).await?
            })
        })
    }

    #[test]
    fn what_may_be_retried() {
        assert!(retryable(&dropped(), Retry::Read));
        assert!(
            !retryable(&dropped(), Retry::Write),
            "a write may have committed"
        );
        assert!(
            !retryable(&sqlx::Error::PoolTimedOut, Retry::Read),
            "waiting longer is not retrying"
        );
        assert!(!retryable(&sqlx::Error::RowNotFound, Retry::Read));
    }

    #[tokio::test]
    async fn a_read_is_retried_after_a_lost_connection_and_a_write_is_not()
    -> Result<(), Box<dyn std::error::Error>> {
        let catalog = catalog().await?;
        let calls = AtomicU32::new(0);
        assert_eq!(flaky(&catalog, &calls, false).await?, 1);
        assert_eq!(calls.load(Ordering::SeqCst), 2, "read once more");

        let calls = AtomicU32::new(0);
        let failed = flaky(&catalog, &calls, true).await;
        assert!(
            matches!(failed, Err(CatalogError::Db(sqlx::Error::Io(_)))),
            "{failed:?}"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1, "a write is not run twice");

        let mut text = String::new();
        catalog.metrics().encode(&mut text)?;
        assert!(
            text.contains(
                r#"tenantry_catalog_operation_seconds_count{operation="flaky_read",outcome="ok"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"tenantry_catalog_operation_seconds_count{operation="flaky_write",outcome="error"} 1"#),
            "{text}"
        );
        Ok(())
    }
}
