//! Components: each host's desired state (what a session asked of it) and actual state
//! (what its agent last reported), in the tenant's own database.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use tenantry_proto::{ActualState, Component, DesiredState, HostStatus};
use uuid::Uuid;

use crate::store::{TenantDataError, TenantDb};
use crate::with_conn;

#[derive(sqlx::FromRow)]
struct ComponentRow {
    id: Uuid,
    hostname: String,
    online_until: Option<DateTime<Utc>>,
    desired_state: Option<Json<DesiredState>>,
    actual_state: Option<Json<ActualState>>,
}

impl ComponentRow {
    fn into_component(self, tenant: &str) -> Component {
        Component {
            id: self.id,
            tenant: tenant.to_owned(),
            hostname: self.hostname,
            status: match self.online_until {
                Some(until) if until > Utc::now() => HostStatus::Online,
                _ => HostStatus::Offline,
            },
            desired_state: self.desired_state.map(|d| d.0),
            actual_state: self.actual_state.map(|a| a.0),
        }
    }

    /// The desired state, while the host has not reported on it.
    fn pending(self) -> Option<DesiredState> {
        let desired = self.desired_state?.0;
        match self.actual_state {
            Some(actual) if actual.0.session_id == desired.session_id => None,
            _ => Some(desired),
        }
    }
}

const COMPONENT_COLUMNS: &str = "id, hostname, online_until, desired_state, actual_state";

/// What the host should apply now, if anything.
pub async fn desired_for(
    db: &TenantDb,
    host: Uuid,
) -> Result<Option<DesiredState>, TenantDataError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {COMPONENT_COLUMNS} FROM hosts WHERE id = $1"
    ));
    let mut conn = db.acquire().await?;
    let row: Option<ComponentRow> = with_conn!(&mut conn, c => {
        sqlx::query_as(sql).bind(host).fetch_optional(&mut *c).await?
    });
    Ok(row.and_then(ComponentRow::pending))
}

pub async fn components(
    db: &TenantDb,
    tenant: &str,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<Component>, TenantDataError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {COMPONENT_COLUMNS} FROM hosts WHERE ($1 IS NULL OR id > $1) ORDER BY id LIMIT $2"
    ));
    let mut conn = db.acquire().await?;
    let rows: Vec<ComponentRow> = with_conn!(&mut conn, c => {
        sqlx::query_as(sql).bind(after).bind(i64::from(limit)).fetch_all(&mut *c).await?
    });
    Ok(rows.into_iter().map(|r| r.into_component(tenant)).collect())
}

pub async fn component(
    db: &TenantDb,
    tenant: &str,
    id: Uuid,
) -> Result<Option<Component>, TenantDataError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {COMPONENT_COLUMNS} FROM hosts WHERE id = $1"
    ));
    let mut conn = db.acquire().await?;
    let row: Option<ComponentRow> = with_conn!(&mut conn, c => {
        sqlx::query_as(sql).bind(id).fetch_optional(&mut *c).await?
    });
    Ok(row.map(|r| r.into_component(tenant)))
}

/// Sets or clears a component's desired state (operators). Returns whether it exists.
pub async fn set_desired(
    db: &TenantDb,
    id: Uuid,
    desired: Option<&DesiredState>,
) -> Result<bool, TenantDataError> {
    let mut conn = db.acquire().await?;
    let n = with_conn!(&mut conn, c => {
        sqlx::query("UPDATE hosts SET desired_state = $2 WHERE id = $1")
            .bind(id)
            .bind(desired.map(Json))
            .execute(&mut *c)
            .await?
            .rows_affected()
    });
    Ok(n > 0)
}
