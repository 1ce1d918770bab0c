use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::measure::op;
use super::{Catalog, CatalogError};
use crate::store::is_unique_violation;

/// One trust store row, with the slug of the tenant it is restricted to.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TrustedKeyRecord {
    pub kid: String,
    pub algorithm: String,
    pub public_key: String,
    pub tenant: Option<String>,
    pub comment: String,
    pub created_at: DateTime<Utc>,
}

impl Catalog {
    pub async fn insert_trusted_key(
        &self,
        kid: &str,
        algorithm: &str,
        public_key: &str,
        tenant_id: Option<Uuid>,
        comment: &str,
    ) -> Result<(), CatalogError> {
        let result = op!(self, "insert_trusted_key", Write, pool => {
            sqlx::query(
                "INSERT INTO registry_trusted_keys (kid, algorithm, public_key, tenant_id, comment, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(kid)
            .bind(algorithm)
            .bind(public_key)
            .bind(tenant_id)
            .bind(comment)
            .bind(Utc::now())
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        });
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(CatalogError::Conflict("key")),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn trusted_keys(&self) -> Result<Vec<TrustedKeyRecord>, CatalogError> {
        Ok(op!(self, "trusted_keys", Read, pool => {
            sqlx::query_as(
                "SELECT k.kid, k.algorithm, k.public_key, t.slug AS tenant, k.comment, k.created_at \
                 FROM registry_trusted_keys k LEFT JOIN registry_tenants t ON t.id = k.tenant_id \
                 ORDER BY k.created_at, k.kid",
            )
            .fetch_all(pool)
            .await?
        }))
    }

    pub async fn delete_trusted_key(&self, kid: &str) -> Result<(), CatalogError> {
        let n = op!(self, "delete_trusted_key", Write, pool => {
            sqlx::query("DELETE FROM registry_trusted_keys WHERE kid = $1")
                .bind(kid)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if n == 0 {
            return Err(CatalogError::NotFound("key"));
        }
        Ok(())
    }
}
