//! A tenant's lifecycle lock across every server on one registry.
//!
//! On PostgreSQL it is a session advisory lock held on a connection of its own, outside
//! every pool, so it lives exactly as long as that connection: released when the
//! operation ends, gone with the connection when the future holding it is dropped, and
//! gone when the server holding it dies — the registry notices a dead peer by TCP
//! keepalives within [`DEAD_PEER`]. That is the lease: nothing to renew, nothing to expire
//! by hand. On SQLite one process owns the data directory, and the in-process lock is all.

use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::PgConnection;

use super::measure::{Attempt, Retry};
use super::{Catalog, CatalogError};
use crate::names::Slug;
use crate::store::Db;

/// Keepalives the registry sends on a lock's connection: idle 10 s, then every 5 s, 3
/// unanswered probes and the connection (and the lock) is dropped.
const KEEPALIVES: &str =
    "SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3";
/// How long a lock can outlive a server that vanished without closing its connection.
pub const DEAD_PEER: Duration = Duration::from_secs(25);

/// A held lifecycle lock. [`RegistryLease::release`] ends it; dropping it closes its
/// connection, which ends it too.
pub struct RegistryLease {
    conn: Option<PgConnection>,
}

impl RegistryLease {
    pub async fn release(mut self) {
        if let Some(mut conn) = self.conn.take() {
            // Unlocking first frees it for others at once; closing would too, as soon as
            // the registry reads the close.
            let unlocked = sqlx::query("SELECT pg_advisory_unlock_all()")
                .execute(&mut conn)
                .await;
            if let Err(e) = unlocked {
                tracing::debug!(error = %e, "lifecycle lock: unlocking failed; closing its connection");
            }
            let _ = conn.close().await;
        }
    }
}

impl Catalog {
    /// The tenant's lifecycle lock if no server holds it, `None` if one does.
    pub async fn try_lifecycle_lock(
        &self,
        slug: &Slug,
    ) -> Result<Option<RegistryLease>, CatalogError> {
        self.lifecycle_lock_as(slug, Wait::No).await
    }

    /// The tenant's lifecycle lock, waiting for whichever server holds it.
    pub async fn lifecycle_lock(&self, slug: &Slug) -> Result<RegistryLease, CatalogError> {
        // Waiting, the lock is always granted in the end: `None` cannot come back.
        self.lifecycle_lock_as(slug, Wait::Yes)
            .await?
            .ok_or(CatalogError::Db(sqlx::Error::RowNotFound))
    }

    async fn lifecycle_lock_as(
        &self,
        slug: &Slug,
        wait: Wait,
    ) -> Result<Option<RegistryLease>, CatalogError> {
        let Db::Postgres(pool) = &self.db else {
            return Ok(Some(RegistryLease { conn: None }));
        };
        // Timed like every catalog operation; never retried (a write).
        let mut attempt = Attempt::start("try_lifecycle_lock", Retry::Write);
        let lease = loop {
            let result = lock_on_own_connection(pool, slug, wait).await;
            if let Some(result) = attempt.settle(self, result).await {
                break result?;
            }
        };
        Ok(lease)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Wait {
    Yes,
    No,
}

async fn lock_on_own_connection(
    pool: &sqlx::PgPool,
    slug: &Slug,
    wait: Wait,
) -> Result<Option<RegistryLease>, sqlx::Error> {
    let mut conn = PgConnection::connect_with(&pool.connect_options()).await?;
    sqlx::raw_sql(KEEPALIVES).execute(&mut conn).await?;
    let key = slug.lifecycle_lock();
    let got: bool = match wait {
        Wait::No => {
            sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
                .bind(key)
                .fetch_one(&mut conn)
                .await?
        }
        Wait::Yes => {
            sqlx::query("SELECT pg_advisory_lock(hashtextextended($1, 0))")
                .bind(key)
                .execute(&mut conn)
                .await?;
            true
        }
    };
    if !got {
        let _ = conn.close().await;
        return Ok(None);
    }
    Ok(Some(RegistryLease { conn: Some(conn) }))
}
