//! Hosts, in the tenant's own database. Every function takes the tenant's [`TenantDb`],
//! which only the router hands out: there is no way to name another tenant's table here.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use tenantry_proto::{CreateHost, Host, HostFacts, HostStatus};
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
    facts: Option<Json<HostFacts>>,
    checkin_interval_secs: Option<i64>,
    created_at: DateTime<Utc>,
    last_seen_at: Option<DateTime<Utc>>,
}

/// An agent checking in at `interval` counts as online until it has missed this many.
const MISSED_CHECKINS_OFFLINE: i64 = 3;
/// The check-in interval assumed when an agent names none.
pub const DEFAULT_CHECKIN_SECS: u64 = 60;

/// `online` while the last check-in is recent enough for the host's interval.
pub fn status(
    last_seen: Option<DateTime<Utc>>,
    interval_secs: Option<i64>,
    now: DateTime<Utc>,
) -> HostStatus {
    let interval = interval_secs.unwrap_or(DEFAULT_CHECKIN_SECS as i64).max(1);
    match last_seen {
        Some(seen) if (now - seen).num_seconds() <= interval * MISSED_CHECKINS_OFFLINE => {
            HostStatus::Online
        }
        _ => HostStatus::Offline,
    }
}

impl HostRow {
    fn into_host(self, tenant: &str) -> Host {
        Host {
            id: self.id,
            tenant: tenant.to_owned(),
            status: status(self.last_seen_at, self.checkin_interval_secs, Utc::now()),
            hostname: self.hostname,
            os: self.os,
            labels: self.labels.0,
            facts: self.facts.map(|f| f.0),
            created_at: self.created_at,
            last_seen_at: self.last_seen_at,
        }
    }
}

const COLUMNS: &str =
    "id, hostname, os, labels, facts, checkin_interval_secs, created_at, last_seen_at";

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
            status: HostStatus::Offline,
            facts: None,
            created_at: now,
            last_seen_at: None,
        }),
        Err(e) if is_unique_violation(&e) => Err(HostError::Exists(new.hostname.clone())),
        Err(e) => Err(e.into()),
    }
}

/// Hostnames: 1–253 characters of letters, digits, `-`, `_` and `.`.
pub fn validate_hostname(h: &str) -> Result<(), String> {
    let ok = !h.is_empty()
        && h.len() <= 253
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
        && !h.starts_with(['-', '.'])
        && !h.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err("hostname must be 1 to 253 characters of letters, digits, `-`, `_` and `.`".into())
    }
}

/// Free-text facts: at most 200 characters, no control characters.
pub fn validate_text(field: &str, text: &str) -> Result<(), String> {
    if text.len() > 200 || text.chars().any(char::is_control) {
        return Err(format!(
            "{field} must be at most 200 characters, without control characters"
        ));
    }
    Ok(())
}

/// What an agent reports must be a sane description of one machine.
pub fn validate_facts(facts: &HostFacts) -> Result<(), String> {
    validate_hostname(&facts.hostname)?;
    if let Some(fqdn) = &facts.fqdn {
        validate_hostname(fqdn).map_err(|_| "fqdn must be a hostname".to_owned())?;
    }
    for (field, text) in [
        ("os_name", &facts.os_name),
        ("os_version", &facts.os_version),
        ("kernel", &facts.kernel),
        ("arch", &facts.arch),
    ] {
        if let Some(text) = text {
            validate_text(field, text)?;
        }
    }
    if facts.cpus == Some(0) {
        return Err("cpus must be at least 1".into());
    }
    Ok(())
}

/// `os` as shown in listings: "<name> <version>".
fn os_of(facts: &HostFacts) -> Option<String> {
    match (&facts.os_name, &facts.os_version) {
        (Some(name), Some(version)) => Some(format!("{name} {version}")),
        (Some(name), None) => Some(name.clone()),
        _ => None,
    }
}

/// Records an enrolled host: a new row, or the same host's row brought up to date when the
/// machine enrolls again. Returns whether the row existed.
pub async fn enroll(
    db: &TenantDb,
    id: Uuid,
    facts: &HostFacts,
    labels: &BTreeMap<String, String>,
    interval_secs: u64,
) -> Result<bool, HostError> {
    let now = Utc::now();
    let interval = i64::try_from(interval_secs).unwrap_or(i64::MAX);
    let mut conn = db.acquire().await?;
    let result = with_conn!(&mut conn, c => {
        let updated = sqlx::query(
            "UPDATE hosts SET hostname = $2, os = $3, facts = $4, checkin_interval_secs = $5, last_seen_at = $6 WHERE id = $1",
        )
        .bind(id)
        .bind(&facts.hostname)
        .bind(os_of(facts))
        .bind(Json(facts))
        .bind(interval)
        .bind(now)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected());
        match updated {
            Ok(0) => sqlx::query(
                "INSERT INTO hosts (id, hostname, os, labels, facts, checkin_interval_secs, created_at, last_seen_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
            )
            .bind(id)
            .bind(&facts.hostname)
            .bind(os_of(facts))
            .bind(Json(labels))
            .bind(Json(facts))
            .bind(interval)
            .bind(now)
            .execute(&mut *c)
            .await
            .map(|_| false),
            Ok(_) => Ok(true),
            Err(e) => Err(e),
        }
    });
    match result {
        Ok(existed) => Ok(existed),
        Err(e) if is_unique_violation(&e) => Err(HostError::Exists(facts.hostname.clone())),
        Err(e) => Err(e.into()),
    }
}

/// Records a check-in; `None` when the host's row is gone.
pub async fn checkin(
    db: &TenantDb,
    id: Uuid,
    facts: Option<&HostFacts>,
) -> Result<Option<u64>, sqlx::Error> {
    let now = Utc::now();
    let mut conn = db.acquire().await?;
    let interval: Option<Option<i64>> = with_conn!(&mut conn, c => {
        match facts {
            Some(facts) => sqlx::query_scalar(
                "UPDATE hosts SET last_seen_at = $2, facts = $3, os = $4 WHERE id = $1 RETURNING checkin_interval_secs",
            )
            .bind(id)
            .bind(now)
            .bind(Json(facts))
            .bind(os_of(facts))
            .fetch_optional(&mut *c)
            .await?,
            None => sqlx::query_scalar(
                "UPDATE hosts SET last_seen_at = $2 WHERE id = $1 RETURNING checkin_interval_secs",
            )
            .bind(id)
            .bind(now)
            .fetch_optional(&mut *c)
            .await?,
        }
    });
    Ok(interval.map(|i| i.map_or(DEFAULT_CHECKIN_SECS, |s| s.max(1) as u64)))
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
