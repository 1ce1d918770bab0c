//! Hosts, in the tenant's own database. Every function takes the tenant's [`TenantDb`],
//! which only the router hands out: there is no way to name another tenant's table here.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use tenantry_proto::{CreateHost, Host};
use uuid::Uuid;

use crate::store::{TenantDb, is_unique_violation};
use crate::with_conn;

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("a host named {0} already exists")]
    Exists(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

#[derive(sqlx::FromRow)]
struct HostRow {
    id: Uuid,
    hostname: String,
    os: Option<String>,
    labels: Json<BTreeMap<String, String>>,
    created_at: DateTime<Utc>,
    last_seen_at: Option<DateTime<Utc>>,
}

impl HostRow {
    fn into_host(self, tenant: &str) -> Host {
        Host {
            id: self.id,
            tenant: tenant.to_owned(),
            hostname: self.hostname,
            os: self.os,
            labels: self.labels.0,
            created_at: self.created_at,
            last_seen_at: self.last_seen_at,
        }
    }
}

const COLUMNS: &str = "id, hostname, os, labels, created_at, last_seen_at";

/// Hosts in creation order (ids are time-ordered), after `after`.
pub async fn list(
    db: &TenantDb,
    tenant: &str,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<Host>, sqlx::Error> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM hosts WHERE ($1 IS NULL OR id > $1) ORDER BY id LIMIT $2"
    ));
    let mut conn = db.acquire().await?;
    let rows: Vec<HostRow> = with_conn!(&mut conn, c => {
        sqlx::query_as(sql).bind(after).bind(i64::from(limit)).fetch_all(&mut *c).await?
    });
    Ok(rows.into_iter().map(|r| r.into_host(tenant)).collect())
}

pub async fn get(db: &TenantDb, tenant: &str, id: Uuid) -> Result<Option<Host>, sqlx::Error> {
    let sql = sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM hosts WHERE id = $1"));
    let mut conn = db.acquire().await?;
    let row: Option<HostRow> = with_conn!(&mut conn, c => {
        sqlx::query_as(sql).bind(id).fetch_optional(&mut *c).await?
    });
    Ok(row.map(|r| r.into_host(tenant)))
}

pub async fn create(db: &TenantDb, tenant: &str, new: &CreateHost) -> Result<Host, HostError> {
    let id = Uuid::now_v7();
    let now = Utc::now();
    let mut conn = db.acquire().await?;
    let result = with_conn!(&mut conn, c => {
        sqlx::query("INSERT INTO hosts (id, hostname, os, labels, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(id)
            .bind(&new.hostname)
            .bind(&new.os)
            .bind(Json(&new.labels))
            .bind(now)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
    });
    match result {
        Ok(_) => Ok(Host {
            id,
            tenant: tenant.to_owned(),
            hostname: new.hostname.clone(),
            os: new.os.clone(),
            labels: new.labels.clone(),
            created_at: now,
            last_seen_at: None,
        }),
        Err(e) if is_unique_violation(&e) => Err(HostError::Exists(new.hostname.clone())),
        Err(e) => Err(e.into()),
    }
}

/// Returns whether a host was deleted.
pub async fn delete(db: &TenantDb, id: Uuid) -> Result<bool, sqlx::Error> {
    let mut conn = db.acquire().await?;
    let n = with_conn!(&mut conn, c => {
        sqlx::query("DELETE FROM hosts WHERE id = $1").bind(id).execute(&mut *c).await?.rows_affected()
    });
    Ok(n > 0)
}

/// Every host id (for routing verification).
pub async fn ids(db: &TenantDb) -> Result<Vec<Uuid>, sqlx::Error> {
    let mut conn = db.acquire().await?;
    Ok(
        with_conn!(&mut conn, c => sqlx::query_scalar("SELECT id FROM hosts").fetch_all(&mut *c).await?),
    )
}
