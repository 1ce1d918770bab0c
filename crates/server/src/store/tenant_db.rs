//! How one tenant's data is reached ([`TenantDb`]), the leases that keep it from being
//! closed or purged under a request, and the one error its failures become
//! ([`TenantDataError`]), which the API turns into a response in one place.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Conn, Db, TenantLocation, sql};

/// SQLSTATE 57014: the statement was cancelled (here, by `statement_timeout`).
const QUERY_CANCELED: &str = "57014";

/// A failure on a tenant's storage.
#[derive(Debug, thiserror::Error)]
pub enum TenantDataError {
    /// Every connection of the tenant's pool is open and busy: the database answers, it
    /// is just saturated.
    #[error("every connection to the tenant's storage is busy")]
    Busy { tenant: Option<String> },
    /// The database server cannot be reached (down, restarting, or the network).
    #[error("the tenant's database instance is unavailable: {source}")]
    Unavailable {
        instance: Option<String>,
        source: sqlx::Error,
    },
    /// The server refused the tenant's login: its leased credential ran out and no fresh
    /// one replaced it (the credential source has been unreachable longer than a lease).
    #[error("the database refused the tenant's login: {source}")]
    LoginRefused {
        tenant: Option<String>,
        source: sqlx::Error,
    },
    /// The write did not fit: the disk or file system is full.
    #[error("the tenant's storage is full: {0}")]
    Full(sqlx::Error),
    /// A statement ran past the tenant's `statement_timeout_ms` and was cancelled.
    #[error("a statement ran past the tenant's statement timeout: {0}")]
    TimedOut(sqlx::Error),
    #[error("tenant database error: {0}")]
    Db(sqlx::Error),
}

impl TenantDataError {
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, TenantDataError::Db(e) if super::is_unique_violation(e))
    }
}

/// What a query error says by itself; [`TenantDb::failure`] adds what only the handle knows.
impl From<sqlx::Error> for TenantDataError {
    fn from(e: sqlx::Error) -> Self {
        if super::postgres::is_auth_failure(&e) {
            TenantDataError::LoginRefused {
                tenant: None,
                source: e,
            }
        } else if super::is_unreachable(&e) {
            TenantDataError::Unavailable {
                instance: None,
                source: e,
            }
        } else if super::is_disk_full(&e) {
            TenantDataError::Full(e)
        } else if matches!(&e, sqlx::Error::Database(db) if db.code().as_deref() == Some(QUERY_CANCELED))
        {
            TenantDataError::TimedOut(e)
        } else {
            TenantDataError::Db(e)
        }
    }
}

/// How one tenant's data is reached. In schema mode every checkout first pins
/// `search_path` to the tenant's schema — and, with per-tenant roles, `SET ROLE`s to the
/// tenant's group role — so a connection that served another tenant before can never
/// see that tenant's tables.
#[derive(Clone, Debug)]
pub struct TenantDb {
    db: Db,
    /// The quoted schema name, in schema mode.
    schema: Option<String>,
    /// What every checkout runs first, in schema mode.
    pin: Option<String>,
    /// Held while a request uses a cached pool, so the pool is not closed under it.
    _lease: Option<Arc<Lease>>,
    /// Held while a request uses the tenant's storage, so it is not purged under it.
    _tenant_lease: Option<Arc<Lease>>,
    /// A place in the tenant's share of connections, held as long as the handle lives.
    _share: Option<Arc<tokio::sync::OwnedSemaphorePermit>>,
    /// Whose storage this is, and on which instance: failures name them.
    origin: Option<Arc<Origin>>,
}

#[derive(Debug)]
struct Origin {
    tenant: String,
    instance: String,
}

/// How many requests hold a cached pool's handles, and a signal when none do. Closing
/// claims the pool atomically (count 0 → [`CLOSED`]), so no lease is ever taken on a pool
/// that is being closed, and no pool is closed while leased.
#[derive(Debug, Default)]
pub struct Leases {
    count: AtomicUsize,
    idle: tokio::sync::Notify,
}

const CLOSED: usize = usize::MAX;

impl Leases {
    pub fn in_use(&self) -> bool {
        !matches!(self.count.load(Ordering::Acquire), 0 | CLOSED)
    }

    /// A lease, unless the pool is being closed.
    pub fn try_lease(self: &Arc<Self>) -> Option<Arc<Lease>> {
        let mut current = self.count.load(Ordering::Acquire);
        loop {
            if current == CLOSED {
                return None;
            }
            match self.count.compare_exchange_weak(
                current,
                current + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(Arc::new(Lease(Arc::clone(self)))),
                Err(now) => current = now,
            }
        }
    }

    /// Waits until nobody holds a lease, then claims the pool for closing. `false` when
    /// another closer claimed it first (only one may close it).
    pub async fn claim_for_close(&self) -> bool {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self
                .count
                .compare_exchange(0, CLOSED, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(CLOSED) => return false,
                Err(_) => notified.await,
            }
        }
    }
}

/// One request's hold on a cached pool; released when the last clone of its handle goes.
#[derive(Debug)]
pub struct Lease(Arc<Leases>);

impl Drop for Lease {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl TenantDb {
    /// A tenant that has a database (or file) of its own.
    pub fn whole(db: Db) -> Self {
        TenantDb {
            db,
            schema: None,
            pin: None,
            _lease: None,
            _tenant_lease: None,
            _share: None,
            origin: None,
        }
    }

    /// The same handle, with every statement cut off after `ms` (PostgreSQL). In schema
    /// mode every checkout sets it (to 0, no limit, when `None`): the connection may have
    /// served a tenant with another limit. A database of its own sets it only when
    /// limited, one statement more per checkout.
    pub fn limit_statements(mut self, ms: Option<u32>) -> Self {
        if !matches!(self.db, Db::Postgres(_)) {
            return self;
        }
        let set = format!("SET statement_timeout = {}", ms.unwrap_or(0));
        self.pin = match (self.pin.take(), ms) {
            (Some(pin), _) => Some(format!("{pin}; {set}")),
            (None, Some(_)) => Some(set),
            (None, None) => None,
        };
        self
    }

    /// The same handle, holding a place in its tenant's share of connections.
    pub fn sharing(mut self, place: Arc<tokio::sync::OwnedSemaphorePermit>) -> Self {
        self._share = Some(place);
        self
    }

    /// The same handle, knowing it reaches `loc`'s storage (its failures name the instance).
    pub fn at(mut self, loc: &TenantLocation) -> Self {
        self.origin = Some(Arc::new(Origin {
            tenant: loc.slug.to_string(),
            instance: loc.instance.clone(),
        }));
        self
    }

    /// The same handle, holding `lease` on its pool for as long as it (or a clone) lives.
    pub fn leased(mut self, lease: Arc<Lease>) -> Self {
        self._lease = Some(lease);
        self
    }

    /// The same handle, holding `lease` on its tenant for as long as it (or a clone) lives.
    pub fn for_tenant(mut self, lease: Arc<Lease>) -> Self {
        self._tenant_lease = Some(lease);
        self
    }

    /// A tenant that is one schema in a shared pool database; `role` is the tenant's
    /// group role when the pool's login must act as it (see [`crate::names::SCHEMA_LOGIN_ROLE`]).
    pub fn schema(pool: sqlx::PgPool, schema: &str, role: Option<&str>) -> Self {
        let schema = sql::quote_ident(schema);
        let pin = match role {
            Some(role) => format!(
                "SET ROLE {}; SET search_path TO {schema}",
                sql::quote_ident(role)
            ),
            None => format!("SET search_path TO {schema}"),
        };
        TenantDb {
            db: Db::Postgres(pool),
            schema: Some(schema),
            pin: Some(pin),
            _lease: None,
            _tenant_lease: None,
            _share: None,
            origin: None,
        }
    }

    /// A connection that sees this tenant's tables and no one else's.
    pub async fn acquire(&self) -> Result<Conn, TenantDataError> {
        self.checkout().await.map_err(|e| self.failure(e))
    }

    async fn checkout(&self) -> Result<Conn, sqlx::Error> {
        let mut conn = self.db.acquire().await?;
        if let (Some(pin), Conn::Postgres(c)) = (&self.pin, &mut conn) {
            // One simple query: one round trip, both settings or neither (an implicit
            // transaction), and no per-tenant prepared statement crowding the
            // connection's statement cache (with 10,000 tenants every checkout would
            // otherwise be a Parse plus a Close).
            if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(pin.as_str()))
                .execute(&mut **c)
                .await
            {
                // Its role and path are whatever a previous checkout left: never reuse it.
                c.close_on_drop();
                return Err(e);
            }
        }
        Ok(conn)
    }

    /// Why reaching this tenant's storage failed, told apart while the pool's state and
    /// the instance are known.
    pub fn failure(&self, e: sqlx::Error) -> TenantDataError {
        let origin = self.origin.as_deref();
        if super::is_saturated(&e, &self.db) {
            return TenantDataError::Busy {
                tenant: origin.map(|o| o.tenant.clone()),
            };
        }
        match TenantDataError::from(e) {
            TenantDataError::Unavailable { source, .. } => TenantDataError::Unavailable {
                instance: origin.map(|o| o.instance.clone()),
                source,
            },
            TenantDataError::LoginRefused { source, .. } => TenantDataError::LoginRefused {
                tenant: origin.map(|o| o.tenant.clone()),
                source,
            },
            other => other,
        }
    }

    /// The pool underneath (shared with other tenants in schema mode).
    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn schema_name(&self) -> Option<&str> {
        self.schema.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Whether `claim` is still waiting once every other task has had its turn (the clock
    /// is paused, so this is a statement about order, not about time).
    async fn still_waiting(claim: &mut tokio::task::JoinHandle<bool>) -> bool {
        tokio::time::timeout(Duration::from_secs(60), claim)
            .await
            .is_err()
    }

    #[tokio::test(start_paused = true)]
    async fn closing_waits_for_every_lease_and_then_refuses_new_ones() {
        let leases = Arc::new(Leases::default());
        let first = leases.try_lease();
        let second = leases.try_lease();
        assert!(first.is_some() && second.is_some());
        assert!(leases.in_use());

        let closer = Arc::clone(&leases);
        let mut claim = tokio::spawn(async move { closer.claim_for_close().await });
        assert!(still_waiting(&mut claim).await, "closed under two leases");
        drop(first);
        assert!(still_waiting(&mut claim).await, "closed under one lease");
        // A lease taken while the closer waits is fine: the pool is not closed yet.
        let third = leases.try_lease();
        assert!(third.is_some());
        drop(second);
        assert!(
            still_waiting(&mut claim).await,
            "closed under the lease taken while waiting"
        );
        drop(third);
        assert!(
            matches!(claim.await, Ok(true)),
            "the last lease let the closer in"
        );

        assert!(leases.try_lease().is_none(), "a lease on a closed pool");
        assert!(!leases.in_use(), "a closed pool is not in use");
        assert!(!leases.claim_for_close().await, "closed twice");
    }

    #[tokio::test(start_paused = true)]
    async fn of_two_closers_exactly_one_closes() {
        let leases = Arc::new(Leases::default());
        let held = leases.try_lease();
        let (a, b) = (Arc::clone(&leases), Arc::clone(&leases));
        let first = tokio::spawn(async move { a.claim_for_close().await });
        let second = tokio::spawn(async move { b.claim_for_close().await });
        tokio::task::yield_now().await;
        drop(held);
        let (first, second) = (first.await, second.await);
        assert!(
            matches!(
                (first, second),
                (Ok(true), Ok(false)) | (Ok(false), Ok(true))
            ),
            "both or neither closed"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn leases_taken_and_dropped_concurrently_never_let_a_close_through_early() {
        let leases = Arc::new(Leases::default());
        let mut workers = Vec::new();
        for _ in 0..8 {
            let leases = Arc::clone(&leases);
            workers.push(tokio::spawn(async move {
                let mut taken = 0u32;
                for _ in 0..200 {
                    if let Some(lease) = leases.try_lease() {
                        taken += 1;
                        // While a lease is held the pool is never closed.
                        assert_ne!(leases.count.load(Ordering::Acquire), CLOSED);
                        tokio::task::yield_now().await;
                        drop(lease);
                    }
                }
                taken
            }));
        }
        let closer = Arc::clone(&leases);
        let claim = tokio::spawn(async move { closer.claim_for_close().await });
        let mut taken = 0;
        for worker in workers {
            taken += worker
                .await
                .unwrap_or_else(|e| panic!("a worker failed: {e}"));
        }
        assert!(matches!(claim.await, Ok(true)));
        assert!(taken > 0);
        assert!(leases.try_lease().is_none());
    }
}
