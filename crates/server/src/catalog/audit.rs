use chrono::{DateTime, Utc};
use sqlx::types::Json;
use tenantry_proto::AuditEvent;
use uuid::Uuid;

use super::measure::op;
use super::{Catalog, CatalogError};

/// An event to append to the audit log.
#[derive(Debug, Clone)]
pub struct NewAuditEvent<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub tenant_slug: Option<&'a str>,
    pub tenant_id: Option<Uuid>,
    pub request_id: Option<&'a str>,
    pub detail: serde_json::Value,
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: Uuid,
    at: DateTime<Utc>,
    actor: String,
    action: String,
    tenant_slug: Option<String>,
    request_id: Option<String>,
    detail: Json<serde_json::Value>,
}

impl Catalog {
    pub async fn audit(&self, e: NewAuditEvent<'_>) -> Result<(), CatalogError> {
        op!(self, "audit", Write, pool => {
            sqlx::query(
                "INSERT INTO registry_audit_events (id, at, actor, action, tenant_slug, tenant_id, request_id, detail) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(Uuid::now_v7())
            .bind(Utc::now())
            .bind(e.actor)
            .bind(e.action)
            .bind(e.tenant_slug)
            .bind(e.tenant_id)
            .bind(e.request_id)
            .bind(Json(&e.detail))
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(())
    }

    /// Newest first; `before` is the id of the last event of the previous page.
    pub async fn audit_events(
        &self,
        tenant: Option<&str>,
        before: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, CatalogError> {
        let rows: Vec<AuditRow> = op!(self, "audit_events", Read, pool => {
            sqlx::query_as(
                "SELECT id, at, actor, action, tenant_slug, request_id, detail FROM registry_audit_events \
                 WHERE ($1 IS NULL OR tenant_slug = $1) AND ($2 IS NULL OR id < $2) \
                 ORDER BY id DESC LIMIT $3",
            )
            .bind(tenant)
            .bind(before)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|r| AuditEvent {
                id: r.id,
                at: r.at,
                actor: r.actor,
                action: r.action,
                tenant: r.tenant_slug,
                request_id: r.request_id,
                detail: r.detail.0,
            })
            .collect())
    }
}
