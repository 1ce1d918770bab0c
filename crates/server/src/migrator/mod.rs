//! The migrator: three linear chains (registry, shared, tenant), and how one database (or
//! one schema, or a template) is brought along them. Running them over every database
//! Tenantry keeps is [`crate::fanout`]'s job.

mod chains;
pub mod lint;
mod template;

pub use chains::{Chain, Chains};
pub use template::{Migrated, Templates};

use crate::store::sql::quote_ident;
use crate::store::{Conn, TenantDb};
use crate::with_conn;

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
    #[error("{0}")]
    Data(#[from] crate::store::TenantDataError),
}

/// The version table of `chain`, qualified by the (already quoted) schema in schema mode.
fn version_table(chain: Chain, schema: Option<&str>) -> String {
    match schema {
        Some(schema) => format!("{schema}.{}", quote_ident(chain.version_table())),
        None => quote_ident(chain.version_table()),
    }
}

/// Reads where the database behind `conn` stands on `chain` without changing anything.
pub async fn state_on(
    conn: &mut Conn,
    chains: &Chains,
    chain: Chain,
    schema: Option<&str>,
) -> Result<ChainState, MigrateFailure> {
    let table = version_table(chain, schema);
    let exists = match conn {
        Conn::Sqlite(c) => sqlx::query_scalar::<_, String>(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = $1",
        )
        .bind(chain.version_table())
        .fetch_optional(&mut **c)
        .await?
        .is_some(),
        Conn::Postgres(c) => {
            sqlx::query_scalar::<_, bool>("SELECT to_regclass($1) IS NOT NULL")
                .bind(&table)
                .fetch_one(&mut **c)
                .await?
        }
    };
    let applied: Vec<i64> = if exists {
        // The table name is a constant of ours (and a derived schema), quoted all the same.
        let sql = format!("SELECT version FROM {table} WHERE success ORDER BY version");
        with_conn!(conn, c => sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_all(&mut *c).await?)
    } else {
        Vec::new()
    };
    let pending = chains
        .get(chain)
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

/// Applies every pending migration of `chain` on `conn`; returns the state before and after.
///
/// `run_direct` rather than `run`: `run` over a borrowed connection trips sqlx's
/// "Acquire is not general enough", which makes the future non-`Send`.
pub async fn apply_on(
    conn: &mut Conn,
    chains: &Chains,
    chain: Chain,
    schema: Option<&str>,
) -> Result<(ChainState, ChainState), MigrateFailure> {
    let before = state_on(conn, chains, chain, schema).await?;
    if before.is_current() {
        return Ok((before.clone(), before));
    }
    match (&mut *conn, schema) {
        (Conn::Postgres(c), Some(schema)) => {
            // One migrator per schema at a time, across processes.
            let key = format!("tenantry:migrate:{schema}");
            sqlx::query("SELECT pg_advisory_lock(hashtext($1))")
                .bind(&key)
                .execute(&mut **c)
                .await?;
            let result = chains
                .in_schema(chain, schema)
                .run_direct(None, &mut **c, false)
                .await;
            sqlx::query("SELECT pg_advisory_unlock(hashtext($1))")
                .bind(&key)
                .execute(&mut **c)
                .await?;
            result?;
        }
        (other, _) => {
            with_conn!(other, c => chains.get(chain).run_direct(None, &mut *c, false).await?)
        }
    }
    let after = state_on(conn, chains, chain, schema).await?;
    Ok((before, after))
}

/// Where a tenant's database stands on the tenant chain.
pub async fn tenant_state(db: &TenantDb, chains: &Chains) -> Result<ChainState, MigrateFailure> {
    let mut conn = db.acquire().await?;
    state_on(&mut conn, chains, Chain::Tenant, db.schema_name()).await
}

/// Brings a tenant's database to the latest tenant chain.
pub async fn apply_tenant(
    db: &TenantDb,
    chains: &Chains,
) -> Result<(ChainState, ChainState), MigrateFailure> {
    let mut conn = db.acquire().await?;
    apply_on(&mut conn, chains, Chain::Tenant, db.schema_name()).await
}
