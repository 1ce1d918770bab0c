//! Sessions and components, in the tenant's own database.
//!
//! Creating a session picks its targets (the template's nodes ∩ the tenant's hosts ∩ the
//! limit) and sets their desired state. Agents receive it at check-in, apply it and report
//! their actual state; the session moves `pending → running → complete` (or `failed`: a
//! target failed, or the timeout passed) from those reports alone.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use tenantry_proto::{
    ActualState, ApplyStatus, BootSet, DesiredState, Operation, Session, SessionProgress,
    SessionStatus,
};
use uuid::Uuid;

use crate::store::cancel::transaction;
use crate::store::{TenantDataError, TenantDb};
use crate::{with_conn, with_pooled};

/// What a new session asks for.
pub struct NewSession<'a> {
    pub template_name: &'a str,
    pub boot_sets: &'a [BootSet],
    pub operation: Operation,
    pub limit: Option<&'a str>,
    pub stage: bool,
    pub timeout: chrono::Duration,
}

#[derive(sqlx::FromRow)]
struct TargetRow {
    id: Uuid,
    hostname: String,
    labels: Json<BTreeMap<String, String>>,
}

/// One element of a `limit`: a hostname or a `key=value` label.
fn matches_limit(limit: Option<&str>, host: &TargetRow) -> bool {
    let Some(limit) = limit.map(str::trim).filter(|l| !l.is_empty()) else {
        return true;
    };
    limit
        .split(',')
        .map(str::trim)
        .any(|item| match item.split_once('=') {
            Some((k, v)) => host.labels.0.get(k).is_some_and(|have| have == v),
            None => item == host.hostname,
        })
}

/// The boot set that claims the host first, if any.
fn boot_set_for<'s>(sets: &'s [BootSet], host: &TargetRow) -> Option<&'s BootSet> {
    sets.iter().find(|set| {
        set.node_list.contains(&host.hostname)
            || (!set.node_labels.is_empty()
                && set
                    .node_labels
                    .iter()
                    .all(|(k, v)| host.labels.0.get(k).is_some_and(|have| have == v)))
    })
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    id: Uuid,
    template_name: String,
    operation: String,
    session_limit: Option<String>,
    stage: bool,
    status: String,
    targets: Json<Vec<Uuid>>,
    error: Option<String>,
    created_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
    timeout_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, template_name, operation, session_limit, stage, status, targets, \
    error, created_at, started_at, completed_at, timeout_at";

impl SessionRow {
    fn into_session(self, tenant: &str, progress: SessionProgress) -> Session {
        Session {
            id: self.id,
            tenant: tenant.to_owned(),
            template_name: self.template_name,
            operation: Operation::parse(&self.operation).unwrap_or(Operation::Boot),
            limit: self.session_limit,
            stage: self.stage,
            status: SessionStatus::parse(&self.status).unwrap_or(SessionStatus::Failed),
            targets: self.targets.0,
            progress,
            error: self.error,
            created_at: self.created_at,
            started_at: self.started_at,
            completed_at: self.completed_at,
            timeout_at: self.timeout_at,
        }
    }
}

/// Creates the session and sets its targets' desired state, in one transaction.
pub async fn create(
    db: &TenantDb,
    tenant: &str,
    new: &NewSession<'_>,
) -> Result<Session, TenantDataError> {
    let id = Uuid::now_v7();
    let now = Utc::now();
    let mut conn = db.acquire().await?;
    let targets: Vec<(Uuid, DesiredState)> = with_conn!(&mut conn, c => {
        let hosts: Vec<TargetRow> = sqlx::query_as("SELECT id, hostname, labels FROM hosts ORDER BY id")
            .fetch_all(&mut *c)
            .await?;
        hosts
            .iter()
            .filter(|h| matches_limit(new.limit, h))
            .filter_map(|h| {
                boot_set_for(new.boot_sets, h).map(|set| {
                    (
                        h.id,
                        DesiredState {
                            session_id: id,
                            operation: new.operation,
                            boot_set: set.name.clone(),
                            image: set.image.clone(),
                            kernel_parameters: set.kernel_parameters.clone(),
                        },
                    )
                })
            })
            .collect()
    });
    let status = if new.stage {
        SessionStatus::Staged
    } else if targets.is_empty() {
        SessionStatus::Complete
    } else {
        SessionStatus::Pending
    };
    let ids: Vec<Uuid> = targets.iter().map(|(id, _)| *id).collect();
    let completed = (status == SessionStatus::Complete).then_some(now);
    let timeout_at = now + new.timeout;
    with_pooled!(&mut conn, c => transaction(c, async |tx| {
        sqlx::query(
            "INSERT INTO sessions (id, template_name, operation, session_limit, stage, status, targets, created_at, completed_at, timeout_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(id)
        .bind(new.template_name)
        .bind(new.operation.as_str())
        .bind(new.limit)
        .bind(new.stage)
        .bind(status.as_str())
        .bind(Json(&ids))
        .bind(now)
        .bind(completed)
        .bind(timeout_at)
        .execute(&mut *tx)
        .await?;
        if !new.stage {
            for (host, desired) in &targets {
                sqlx::query("UPDATE hosts SET desired_state = $2 WHERE id = $1")
                    .bind(host)
                    .bind(Json(desired))
                    .execute(&mut *tx)
                    .await?;
            }
        }
        Ok::<_, sqlx::Error>(())
    })
    .await)?;
    Ok(Session {
        id,
        tenant: tenant.to_owned(),
        template_name: new.template_name.to_owned(),
        operation: new.operation,
        limit: new.limit.map(str::to_owned),
        stage: new.stage,
        status,
        progress: SessionProgress {
            targets: ids.len() as u64,
            applied: 0,
            failed: 0,
        },
        targets: ids,
        error: None,
        created_at: now,
        started_at: None,
        completed_at: completed,
        timeout_at,
    })
}

/// Fails every unfinished session whose timeout has passed. Reads first, so a listing
/// writes (and, on SQLite, takes the write lock) only when something did time out.
async fn expire(db: &TenantDb) -> Result<(), TenantDataError> {
    let now = Utc::now();
    let mut conn = db.acquire().await?;
    let due: i64 = with_conn!(&mut conn, c => {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM sessions WHERE status IN ('pending', 'running') AND timeout_at < $1",
        )
        .bind(now)
        .fetch_one(&mut *c)
        .await?
    });
    if due == 0 {
        return Ok(());
    }
    with_conn!(&mut conn, c => {
        sqlx::query(
            "UPDATE sessions SET status = 'failed', error = 'timed out before every target reported', completed_at = $1 \
             WHERE status IN ('pending', 'running') AND timeout_at < $1",
        )
        .bind(now)
        .execute(&mut *c)
        .await?
        .rows_affected()
    });
    Ok(())
}

/// Applied and failed reports per session, from every host's actual state (one read).
async fn reports(db: &TenantDb) -> Result<HashMap<Uuid, (u64, u64)>, TenantDataError> {
    let mut conn = db.acquire().await?;
    let states: Vec<Option<Json<ActualState>>> = with_conn!(&mut conn, c => {
        sqlx::query_scalar("SELECT actual_state FROM hosts WHERE actual_state IS NOT NULL")
            .fetch_all(&mut *c)
            .await?
    });
    let mut counts: HashMap<Uuid, (u64, u64)> = HashMap::new();
    for state in states.into_iter().flatten() {
        let entry = counts.entry(state.0.session_id).or_default();
        match state.0.status {
            ApplyStatus::Applied => entry.0 += 1,
            ApplyStatus::Failed => entry.1 += 1,
        }
    }
    Ok(counts)
}

fn progress(reports: &HashMap<Uuid, (u64, u64)>, id: Uuid, targets: &[Uuid]) -> SessionProgress {
    let (applied, failed) = reports.get(&id).copied().unwrap_or_default();
    SessionProgress {
        targets: targets.len() as u64,
        applied,
        failed,
    }
}

pub async fn get(
    db: &TenantDb,
    tenant: &str,
    id: Uuid,
) -> Result<Option<Session>, TenantDataError> {
    expire(db).await?;
    let sql = sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM sessions WHERE id = $1"));
    let mut conn = db.acquire().await?;
    let row: Option<SessionRow> = with_conn!(&mut conn, c => {
        sqlx::query_as(sql).bind(id).fetch_optional(&mut *c).await?
    });
    drop(conn);
    match row {
        Some(row) => {
            let progress = progress(&reports(db).await?, row.id, &row.targets.0);
            Ok(Some(row.into_session(tenant, progress)))
        }
        None => Ok(None),
    }
}

/// Sessions oldest first, after `after`, optionally of one status.
pub async fn list(
    db: &TenantDb,
    tenant: &str,
    status: Option<SessionStatus>,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<Session>, TenantDataError> {
    expire(db).await?;
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM sessions WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3"
    ));
    let mut conn = db.acquire().await?;
    let rows: Vec<SessionRow> = with_conn!(&mut conn, c => {
        sqlx::query_as(sql)
            .bind(status.map(SessionStatus::as_str))
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&mut *c)
            .await?
    });
    drop(conn);
    let reports = reports(db).await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let progress = progress(&reports, row.id, &row.targets.0);
            row.into_session(tenant, progress)
        })
        .collect())
}

/// Deletes a session; its targets no longer want what it asked for.
pub async fn delete(db: &TenantDb, id: Uuid) -> Result<bool, TenantDataError> {
    let mut conn = db.acquire().await?;
    let wanting: Vec<(Uuid, Json<DesiredState>)> = with_conn!(&mut conn, c => {
        sqlx::query_as("SELECT id, desired_state FROM hosts WHERE desired_state IS NOT NULL")
            .fetch_all(&mut *c)
            .await?
    });
    let n = with_pooled!(&mut conn, c => transaction(c, async |tx| {
        for (host, desired) in &wanting {
            if desired.0.session_id == id {
                sqlx::query("UPDATE hosts SET desired_state = NULL WHERE id = $1")
                    .bind(host)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let n = sqlx::query("DELETE FROM sessions WHERE id = $1").bind(id).execute(&mut *tx).await?.rows_affected();
        Ok::<_, sqlx::Error>(n)
    })
    .await)?;
    Ok(n > 0)
}

/// Records what a host did, and moves its session along.
pub async fn report(
    db: &TenantDb,
    host: Uuid,
    actual: &ActualState,
) -> Result<(), TenantDataError> {
    let now = Utc::now();
    let mut conn = db.acquire().await?;
    let session: Option<(String, Json<Vec<Uuid>>)> = with_conn!(&mut conn, c => {
        sqlx::query("UPDATE hosts SET actual_state = $2 WHERE id = $1")
            .bind(host)
            .bind(Json(actual))
            .execute(&mut *c)
            .await?;
        sqlx::query_as("SELECT status, targets FROM sessions WHERE id = $1")
            .bind(actual.session_id)
            .fetch_optional(&mut *c)
            .await?
    });
    drop(conn);
    let Some((status, targets)) = session else {
        return Ok(());
    };
    if !matches!(status.as_str(), "pending" | "running") || !targets.0.contains(&host) {
        return Ok(());
    }
    let progress = progress(&reports(db).await?, actual.session_id, &targets.0);
    let (next, error, done) = if progress.failed > 0 {
        (
            SessionStatus::Failed,
            Some(format!(
                "{} of {} targets failed",
                progress.failed, progress.targets
            )),
            Some(now),
        )
    } else if progress.applied >= progress.targets {
        (SessionStatus::Complete, None, Some(now))
    } else {
        (SessionStatus::Running, None, None)
    };
    let mut conn = db.acquire().await?;
    with_conn!(&mut conn, c => {
        sqlx::query(
            "UPDATE sessions SET status = $2, error = $3, completed_at = $4, started_at = COALESCE(started_at, $5) \
             WHERE id = $1 AND status IN ('pending', 'running')",
        )
        .bind(actual.session_id)
        .bind(next.as_str())
        .bind(error)
        .bind(done)
        .bind(now)
        .execute(&mut *c)
        .await?
        .rows_affected()
    });
    Ok(())
}

/// How many sessions the tenant has (for routing verification).
pub async fn count(db: &TenantDb) -> Result<i64, TenantDataError> {
    let mut conn = db.acquire().await?;
    Ok(with_conn!(&mut conn, c => {
        sqlx::query_scalar("SELECT COUNT(*) FROM sessions").fetch_one(&mut *c).await?
    }))
}

/// Targets that are real hosts of this tenant (what verification checks sessions against).
pub async fn target_ids(db: &TenantDb) -> Result<HashSet<Uuid>, TenantDataError> {
    let mut conn = db.acquire().await?;
    let all: Vec<Json<Vec<Uuid>>> = with_conn!(&mut conn, c => {
        sqlx::query_scalar("SELECT targets FROM sessions").fetch_all(&mut *c).await?
    });
    Ok(all.into_iter().flat_map(|t| t.0).collect())
}
