//! The storage backend seam: a [`Db`] is a handle to one database, whatever its engine.
//!
//! Code above this layer (catalog, pools, provisioner, migrator, tenant data) writes its
//! SQL once, in portable form with `$1` placeholders, and runs it through [`with_db!`],
//! which monomorphises the body for each engine. PostgreSQL joins as a second variant.

pub mod sql;
pub mod sqlite;
pub mod tenants;

use std::time::Duration;

/// A connection pool to one database: the registry, a template, or one tenant's storage.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(sqlx::SqlitePool),
}

/// Runs `$body` with `$pool` bound to the engine-specific pool inside a [`Db`].
#[macro_export]
macro_rules! with_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite($pool) => $body,
        }
    };
}

/// The database engines Tenantry can store data on; names the migration folders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
        }
    }
}

/// Sizes of one pool.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    pub max_connections: u32,
    pub idle_timeout: Duration,
    pub acquire_timeout: Duration,
}

impl Db {
    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
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
}

/// Whether an error is a unique-constraint violation (a duplicate key).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(e) if e.is_unique_violation())
}
