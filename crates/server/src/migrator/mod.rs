//! The migrator: three linear chains (registry, shared, tenant), applied to the registry,
//! the shared database, every template and every tenant.

mod chains;
pub mod fanout;
pub mod lint;

pub use chains::{Chain, Chains};

use crate::store::Db;
use crate::store::sql::quote_ident;
use crate::with_db;

/// Where one database stands on one chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainState {
    /// The newest applied version (0 when none is).
    pub current: i64,
    pub latest: i64,
    /// Versions and descriptions not yet applied, oldest first.
    pub pending: Vec<(i64, String)>,
}

impl ChainState {
    pub fn is_current(&self) -> bool {
        self.pending.is_empty()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateFailure {
    #[error("{0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Db(#[from] sqlx::Error),
}

/// Reads where `db` stands on `chain` without changing anything.
pub async fn state(db: &Db, chains: &Chains, chain: Chain) -> Result<ChainState, MigrateFailure> {
    let table = chain.version_table();
    let applied: Vec<i64> = with_db!(db, pool => {
        let exists: Option<String> =
            sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name = $1")
                .bind(table)
                .fetch_optional(pool)
                .await?;
        if exists.is_some() {
            // The table name is a constant of ours, quoted all the same.
            let sql = format!("SELECT version FROM {} WHERE success ORDER BY version", quote_ident(table));
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await?
        } else {
            Vec::new()
        }
    });
    let migrator = chains.get(chain);
    let pending = migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration() && !applied.contains(&m.version))
        .map(|m| (m.version, m.description.to_string()))
        .collect();
    Ok(ChainState {
        current: applied.iter().copied().max().unwrap_or(0),
        latest: chains.latest(chain),
        pending,
    })
}

/// Applies every pending migration of `chain` to `db`; returns the state before and after.
pub async fn apply(
    db: &Db,
    chains: &Chains,
    chain: Chain,
) -> Result<(ChainState, ChainState), MigrateFailure> {
    let before = state(db, chains, chain).await?;
    if before.is_current() {
        return Ok((before.clone(), before));
    }
    let migrator = chains.get(chain);
    with_db!(db, pool => migrator.run(pool).await?);
    let after = state(db, chains, chain).await?;
    Ok((before, after))
}
