//! Hosts, in the tenant's own database. Every function takes the tenant's [`TenantDb`],
//! which only the router hands out: there is no way to name another tenant's table here.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use tenantry_proto::{CreateHost, Host, HostFacts, HostStatus};
use uuid::Uuid;

use crate::store::{TenantDataError, TenantDb, is_unique_violation};
use crate::with_conn;

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("a host named {0} already exists")]
    Exists(String),
    #[error(transparent)]
    Data(#[from] TenantDataError),
}

impl From<sqlx::Error> for HostError {
    fn from(e: sqlx::Error) -> Self {
        HostError::Data(e.into())
    }
}

#[derive(sqlx::FromRow)]
struct HostRow {
    id: Uuid,
    hostname: String,
    os: Option<String>,
    labels: Json<BTreeMap<String, String>>,
    facts: Option<Json<HostFacts>>,
    online_until: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    last_seen_at: Option<DateTime<Utc>>,
}

/// An agent checking in at `interval` counts as online until it has missed this many.
const MISSED_CHECKINS_OFFLINE: i64 = 3;
/// The check-in interval assumed when an agent names none.
pub const DEFAULT_CHECKIN_SECS: u64 = 60;

/// Until when a host that checked in `now` counts as online.
fn online_until(now: DateTime<Utc>, interval_secs: i64) -> DateTime<Utc> {
    now + chrono::Duration::seconds(interval_secs.max(1).saturating_mul(MISSED_CHECKINS_OFFLINE))
}

impl HostRow {
    fn into_host(self, tenant: &str) -> Host {
        Host {
            id: self.id,
            tenant: tenant.to_owned(),
            status: match self.online_until {
                Some(until) if until > Utc::now() => HostStatus::Online,
                _ => HostStatus::Offline,
            },
            hostname: self.hostname,
            os: self.os,
            labels: self.labels.0,
            facts: self.facts.map(|f| f.0),
            created_at: self.created_at,
            last_seen_at: self.last_seen_at,
        }
    }
}

const COLUMNS: &str = "id, hostname, os, labels, facts, online_until, created_at, last_seen_at";

/// How a listing is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostSort {
    /// Oldest first (ids are time-ordered).
    #[default]
    Created,
    CreatedDesc,
    Hostname,
    HostnameDesc,
}

/// Which hosts a listing shows, and where the page starts.
#[derive(Debug, Clone, Default)]
pub struct HostFilter {
    /// Case-insensitive hostname prefix.
    pub hostname_prefix: Option<String>,
    /// `key`, `value`: hosts carrying this label.
    pub label: Option<(String, String)>,
    pub status: Option<HostStatus>,
    pub sort: HostSort,
    /// The last row of the previous page: its id (by creation) or hostname.
    pub after_id: Option<Uuid>,
    pub after_hostname: Option<String>,
}

/// `LIKE` pattern for a literal prefix.
fn prefix_pattern(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 1);
    for c in prefix.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// One page of the tenant's hosts.
pub async fn list(
    db: &TenantDb,
    tenant: &str,
    filter: &HostFilter,
    limit: u32,
) -> Result<Vec<Host>, TenantDataError> {
    // Label keys follow the label rule (no quotes), so they can sit in a JSON path.
    let label = match db.db().backend() {
        crate::store::Backend::Postgres => "labels ->> $2",
        crate::store::Backend::Sqlite => "json_extract(labels, '$.\"' || $2 || '\"')",
    };
    // Both cursor conditions are always there (the unused one is NULL), so every
    // statement binds the same parameters.
    let (op, order) = match filter.sort {
        HostSort::Created => (">", "id"),
        HostSort::CreatedDesc => ("<", "id DESC"),
        HostSort::Hostname => (">", "hostname"),
        HostSort::HostnameDesc => ("<", "hostname DESC"),
    };
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM hosts \
         WHERE ($1 IS NULL OR lower(hostname) LIKE $1 ESCAPE '\\') \
         AND ($2 IS NULL OR {label} = $3) \
         AND ($4 IS NULL OR ($4 = 'online' AND online_until > $5) \
              OR ($4 = 'offline' AND (online_until IS NULL OR online_until <= $5))) \
         AND ($6 IS NULL OR id {op} $6) AND ($7 IS NULL OR hostname {op} $7) \
         ORDER BY {order} LIMIT $8"
    ));
    let status = filter.status.map(|s| match s {
        HostStatus::Online => "online",
        HostStatus::Offline => "offline",
    });
    let (label_key, label_value) = filter.label.clone().unzip();
    let mut conn = db.acquire().await?;
    let rows: Vec<HostRow> = with_conn!(&mut conn, c => {
        sqlx::query_as(sql)
            .bind(filter.hostname_prefix.as_deref().map(prefix_pattern))
            .bind(label_key)
            .bind(label_value)
            .bind(status)
            .bind(Utc::now())
            .bind(filter.after_id)
            .bind(filter.after_hostname.clone())
            .bind(i64::from(limit))
            .fetch_all(&mut *c)
            .await?
    });
    Ok(rows.into_iter().map(|r| r.into_host(tenant)).collect())
}

/// Replaces a host's labels; `None` when there is no such host.
pub async fn set_labels(
    db: &TenantDb,
    tenant: &str,
    id: Uuid,
    labels: &BTreeMap<String, String>,
) -> Result<Option<Host>, TenantDataError> {
    let mut conn = db.acquire().await?;
    let n = with_conn!(&mut conn, c => {
        sqlx::query("UPDATE hosts SET labels = $2 WHERE id = $1")
            .bind(id)
            .bind(Json(labels))
            .execute(&mut *c)
            .await?
            .rows_affected()
    });
    drop(conn);
    if n == 0 {
        return Ok(None);
    }
    get(db, tenant, id).await
}

pub async fn get(db: &TenantDb, tenant: &str, id: Uuid) -> Result<Option<Host>, TenantDataError> {
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
            "UPDATE hosts SET hostname = $2, os = $3, facts = $4, checkin_interval_secs = $5, last_seen_at = $6, online_until = $7 WHERE id = $1",
        )
        .bind(id)
        .bind(&facts.hostname)
        .bind(os_of(facts))
        .bind(Json(facts))
        .bind(interval)
        .bind(now)
        .bind(online_until(now, interval))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected());
        match updated {
            Ok(0) => sqlx::query(
                "INSERT INTO hosts (id, hostname, os, labels, facts, checkin_interval_secs, created_at, last_seen_at, online_until) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)",
            )
            .bind(id)
            .bind(&facts.hostname)
            .bind(os_of(facts))
            .bind(Json(labels))
            .bind(Json(facts))
            .bind(interval)
            .bind(now)
            .bind(online_until(now, interval))
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

/// Records a check-in; `None` when the host's row is gone. Returns the host's interval.
pub async fn checkin(
    db: &TenantDb,
    id: Uuid,
    facts: Option<&HostFacts>,
) -> Result<Option<u64>, TenantDataError> {
    let now = Utc::now();
    let mut conn = db.acquire().await?;
    let interval: Option<Option<i64>> = with_conn!(&mut conn, c => {
        sqlx::query_scalar("SELECT checkin_interval_secs FROM hosts WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *c)
            .await?
    });
    let Some(interval) = interval else {
        return Ok(None);
    };
    let interval = interval.unwrap_or(DEFAULT_CHECKIN_SECS as i64).max(1);
    let until = online_until(now, interval);
    // Facts (and the `os` derived from them) change only when the agent sent some.
    let n = with_conn!(&mut conn, c => {
        sqlx::query(
            "UPDATE hosts SET last_seen_at = $2, online_until = $3, facts = COALESCE($4, facts), \
             os = CASE WHEN $4 IS NULL THEN os ELSE $5 END WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .bind(until)
        .bind(facts.map(Json))
        .bind(facts.and_then(os_of))
        .execute(&mut *c)
        .await?
        .rows_affected()
    });
    Ok((n > 0).then_some(interval as u64))
}

/// Returns whether a host was deleted.
pub async fn delete(db: &TenantDb, id: Uuid) -> Result<bool, TenantDataError> {
    let mut conn = db.acquire().await?;
    let n = with_conn!(&mut conn, c => {
        sqlx::query("DELETE FROM hosts WHERE id = $1").bind(id).execute(&mut *c).await?.rows_affected()
    });
    Ok(n > 0)
}

pub async fn count(db: &TenantDb) -> Result<i64, TenantDataError> {
    let mut conn = db.acquire().await?;
    Ok(with_conn!(&mut conn, c => {
        sqlx::query_scalar("SELECT COUNT(*) FROM hosts").fetch_one(&mut *c).await?
    }))
}

/// Every host id (for routing verification).
pub async fn ids(db: &TenantDb) -> Result<Vec<Uuid>, TenantDataError> {
    let mut conn = db.acquire().await?;
    Ok(
        with_conn!(&mut conn, c => sqlx::query_scalar("SELECT id FROM hosts").fetch_all(&mut *c).await?),
    )
}
