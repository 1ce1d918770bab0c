use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;

use super::measure::op;
use super::{Catalog, CatalogError};

/// One enrollment token, without its secret (only the hash is stored at all).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EnrollmentTokenRecord {
    pub id: Uuid,
    pub labels: Json<BTreeMap<String, String>>,
    pub max_uses: Option<i64>,
    pub uses: i64,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

/// What is recorded for a new token.
#[derive(Debug, Clone)]
pub struct NewEnrollmentToken<'a> {
    pub tenant_id: Uuid,
    pub token_hash: &'a str,
    pub labels: &'a BTreeMap<String, String>,
    pub max_uses: Option<i64>,
    pub expires_at: DateTime<Utc>,
    pub created_by: &'a str,
}

const COLUMNS: &str = "id, labels, max_uses, uses, expires_at, revoked_at, created_at, created_by";

impl Catalog {
    pub async fn insert_enrollment_token(
        &self,
        t: &NewEnrollmentToken<'_>,
    ) -> Result<EnrollmentTokenRecord, CatalogError> {
        let id = Uuid::now_v7();
        let now = Utc::now();
        op!(self, "insert_enrollment_token", Write, pool => {
            sqlx::query(
                "INSERT INTO registry_enrollment_tokens \
                 (id, tenant_id, token_hash, labels, max_uses, uses, expires_at, created_at, created_by) \
                 VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $8)",
            )
            .bind(id)
            .bind(t.tenant_id)
            .bind(t.token_hash)
            .bind(Json(t.labels))
            .bind(t.max_uses)
            .bind(t.expires_at)
            .bind(now)
            .bind(t.created_by)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(EnrollmentTokenRecord {
            id,
            labels: Json(t.labels.clone()),
            max_uses: t.max_uses,
            uses: 0,
            expires_at: t.expires_at,
            revoked_at: None,
            created_at: now,
            created_by: t.created_by.to_owned(),
        })
    }

    /// A tenant's tokens, newest first.
    pub async fn enrollment_tokens_of(
        &self,
        tenant_id: Uuid,
    ) -> Result<Vec<EnrollmentTokenRecord>, CatalogError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM registry_enrollment_tokens WHERE tenant_id = $1 ORDER BY id DESC"
        );
        Ok(
            op!(self, "enrollment_tokens_of", Read, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(tenant_id).fetch_all(pool).await?),
        )
    }

    /// Revokes one of a tenant's tokens (idempotent for an already revoked one).
    pub async fn revoke_enrollment_token(
        &self,
        tenant_id: Uuid,
        id: Uuid,
    ) -> Result<EnrollmentTokenRecord, CatalogError> {
        op!(self, "revoke_enrollment_token", Write, pool => {
            sqlx::query(
                "UPDATE registry_enrollment_tokens SET revoked_at = $3 \
                 WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL",
            )
            .bind(tenant_id)
            .bind(id)
            .bind(Utc::now())
            .execute(pool)
            .await?
            .rows_affected()
        });
        let sql = format!(
            "SELECT {COLUMNS} FROM registry_enrollment_tokens WHERE tenant_id = $1 AND id = $2"
        );
        let found: Option<EnrollmentTokenRecord> = op!(self, "revoke_enrollment_token", Read, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(tenant_id).bind(id).fetch_optional(pool).await?);
        found.ok_or(CatalogError::NotFound("enrollment token"))
    }
}
