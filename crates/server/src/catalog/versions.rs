use chrono::Utc;
use uuid::Uuid;

use super::measure::op;
use super::{Catalog, CatalogError};
use crate::migrator::Chain;

impl Catalog {
    /// Records the version a tenant's database is at on `chain`.
    pub async fn record_version(
        &self,
        tenant_id: Uuid,
        chain: Chain,
        version: i64,
    ) -> Result<(), CatalogError> {
        op!(self, "record_version", Write, pool => {
            sqlx::query(
                "INSERT INTO registry_tenant_versions (tenant_id, chain, version, updated_at) \
                 VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (tenant_id, chain) DO UPDATE SET version = excluded.version, \
                 updated_at = excluded.updated_at",
            )
            .bind(tenant_id)
            .bind(chain.as_str())
            .bind(version)
            .bind(Utc::now())
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(())
    }
}
