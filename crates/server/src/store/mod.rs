//! The storage backend seam: a [`Db`] is a pool on one database, whatever its engine, and a
//! [`TenantDb`] is how a tenant's data is reached (a pool, or a pool plus a schema).
//!
//! Code above this layer (catalog, pools, provisioner, migrator, tenant data) writes its
//! SQL once, in portable form with `$1` placeholders, and runs it through [`with_db!`] or
//! [`with_conn!`], which monomorphise the body for each engine.

pub mod cancel;
pub mod credentials;
pub mod instances;
pub mod isolation;
mod location;
mod logins;
pub mod postgres;
mod roles;
pub mod sql;
pub mod sqlite;
mod tenant_db;
pub mod tenants;

use std::time::Duration;

use sqlx::pool::PoolConnection;

pub use location::TenantLocation;
pub use tenant_db::{Lease, Leases, TenantDataError, TenantDb};

/// A connection pool to one database: the registry, a template, or tenant storage.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// One checked-out connection.
#[derive(Debug)]
pub enum Conn {
    Sqlite(PoolConnection<sqlx::Sqlite>),
    Postgres(PoolConnection<sqlx::Postgres>),
}

/// Runs `$body` with `$pool` bound to the engine-specific pool inside a [`Db`].
#[macro_export]
macro_rules! with_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite($pool) => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
}

/// Runs `$body` with `$c` bound to `&mut` the engine-specific connection inside a [`Conn`].
#[macro_export]
macro_rules! with_conn {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::store::Conn::Sqlite(pooled) => {
                let $c: &mut sqlx::SqliteConnection = &mut *pooled;
                $body
            }
            $crate::store::Conn::Postgres(pooled) => {
                let $c: &mut sqlx::PgConnection = &mut *pooled;
                $body
            }
        }
    };
}

/// Runs `$body` with `$c` bound to `&mut` the engine-specific pooled connection inside a
/// [`Conn`] (for [`cancel::transaction`], which may have to keep it from the pool).
#[macro_export]
macro_rules! with_pooled {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::store::Conn::Sqlite($c) => $body,
            $crate::store::Conn::Postgres($c) => $body,
        }
    };
}

/// The database engines Tenantry can store data on; names the migration folders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Sizes of one pool.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    pub max_connections: u32,
    pub idle_timeout: Duration,
    pub acquire_timeout: Duration,
    /// Connections are replaced after this long (short-lived credentials need it).
    pub max_lifetime: Option<Duration>,
}

impl Db {
    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Round-trips a trivial query.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        with_db!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))
    }

    /// Closes every connection; waits for checked-out ones to come back.
    pub async fn close(&self) {
        with_db!(self, pool => pool.close().await)
    }

    /// Connections currently open in this pool.
    pub fn size(&self) -> u32 {
        with_db!(self, pool => pool.size())
    }

    /// The most connections this pool may open.
    pub fn max_connections(&self) -> u32 {
        with_db!(self, pool => pool.options().get_max_connections())
    }

    pub async fn acquire(&self) -> Result<Conn, sqlx::Error> {
        Ok(match self {
            Db::Sqlite(pool) => Conn::Sqlite(pool.acquire().await?),
            Db::Postgres(pool) => Conn::Postgres(pool.acquire().await?),
        })
    }
}

/// Whether a driver error means the database server could not be reached at all.
pub fn is_unreachable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Tls(_) => true,
        // The server is shutting down or starting up (SQLSTATE 57P01–57P03): a pooled
        // connection learns this on its next query, not at connect.
        sqlx::Error::Database(db) => {
            matches!(db.code().as_deref(), Some("57P01" | "57P02" | "57P03"))
        }
        _ => false,
    }
}

/// Whether a write was refused for lack of space: PostgreSQL's `disk_full` (53100),
/// SQLite's `SQLITE_FULL` (13), or a full file system under a file the server writes.
pub fn is_disk_full(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => matches!(db.code().as_deref(), Some("53100" | "13")),
        sqlx::Error::Io(io) => io.kind() == std::io::ErrorKind::StorageFull,
        _ => false,
    }
}

/// Whether a wait for a connection timed out on a pool whose connections were all open
/// and busy: the database answers, it is just saturated (a pool that could not connect
/// times out with room to spare).
pub fn is_saturated(e: &sqlx::Error, db: &Db) -> bool {
    matches!(e, sqlx::Error::PoolTimedOut) && db.size() >= db.max_connections()
}

/// Whether an error is a foreign-key violation (the row referred to is gone).
pub fn is_foreign_key_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(e) if e.is_foreign_key_violation())
}

/// Whether an error is a unique-constraint violation (a duplicate key).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(e) if e.is_unique_violation())
}
