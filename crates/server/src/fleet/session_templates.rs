//! Session templates, in the tenant's own database: named boot sets (nodes by hostname or
//! label, image, kernel parameters). A name is unique within its tenant only.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use tenantry_proto::{BootSet, SessionTemplate};

use crate::store::{TenantDataError, TenantDb, is_unique_violation};
use crate::with_conn;

#[derive(Debug, thiserror::Error)]
pub enum SessionTemplateError {
    #[error("a session template named {0} already exists")]
    Exists(String),
    #[error(transparent)]
    Data(#[from] TenantDataError),
}

impl From<sqlx::Error> for SessionTemplateError {
    fn from(e: sqlx::Error) -> Self {
        SessionTemplateError::Data(e.into())
    }
}

const MAX_BOOT_SETS: usize = 32;
const MAX_NODES: usize = 10_000;

/// Names: 1–127 characters of letters, digits, `-`, `_` and `.`.
pub fn validate_name(name: &str) -> Result<(), String> {
    let ok = (1..=127).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err("a template name is 1 to 127 characters of letters, digits, `-`, `_` and `.`".into())
    }
}

fn clean_text(field: &str, text: &str, max: usize) -> Result<(), String> {
    if text.len() > max || text.chars().any(char::is_control) {
        return Err(format!(
            "{field} must be at most {max} characters, without control characters"
        ));
    }
    Ok(())
}

pub fn validate(description: &str, boot_sets: &[BootSet]) -> Result<(), String> {
    clean_text("description", description, 1024)?;
    if boot_sets.is_empty() || boot_sets.len() > MAX_BOOT_SETS {
        return Err(format!("a template has 1 to {MAX_BOOT_SETS} boot sets"));
    }
    let mut names = std::collections::BTreeSet::new();
    for set in boot_sets {
        validate_name(&set.name).map_err(|_| {
            "a boot set name is 1 to 127 characters of letters, digits, `-`, `_` and `.`".to_owned()
        })?;
        if !names.insert(&set.name) {
            return Err(format!("boot set {} appears twice", set.name));
        }
        if set.node_list.is_empty() && set.node_labels.is_empty() {
            return Err(format!(
                "boot set {} names no nodes (node_list or node_labels)",
                set.name
            ));
        }
        if set.node_list.len() > MAX_NODES {
            return Err(format!("a node_list has at most {MAX_NODES} hostnames"));
        }
        for node in &set.node_list {
            super::hosts::validate_hostname(node)?;
        }
        super::labels::validate(&set.node_labels)?;
        clean_text("image", &set.image, 1024)?;
        if set.image.is_empty() {
            return Err(format!("boot set {} has no image", set.name));
        }
        clean_text("kernel_parameters", &set.kernel_parameters, 4096)?;
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct Row {
    name: String,
    description: String,
    boot_sets: Json<Vec<BootSet>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl Row {
    fn into_template(self, tenant: &str) -> SessionTemplate {
        SessionTemplate {
            tenant: tenant.to_owned(),
            name: self.name,
            description: self.description,
            boot_sets: self.boot_sets.0,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

const COLUMNS: &str = "name, description, boot_sets, created_at, updated_at";

/// Templates by name, after `after`.
pub async fn list(
    db: &TenantDb,
    tenant: &str,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<SessionTemplate>, TenantDataError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM session_templates WHERE ($1 IS NULL OR name > $1) ORDER BY name LIMIT $2"
    ));
    let mut conn = db.acquire().await?;
    let rows: Vec<Row> = with_conn!(&mut conn, c => {
        sqlx::query_as(sql).bind(after).bind(i64::from(limit)).fetch_all(&mut *c).await?
    });
    Ok(rows.into_iter().map(|r| r.into_template(tenant)).collect())
}

pub async fn get(
    db: &TenantDb,
    tenant: &str,
    name: &str,
) -> Result<Option<SessionTemplate>, TenantDataError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM session_templates WHERE name = $1"
    ));
    let mut conn = db.acquire().await?;
    let row: Option<Row> = with_conn!(&mut conn, c => {
        sqlx::query_as(sql).bind(name).fetch_optional(&mut *c).await?
    });
    Ok(row.map(|r| r.into_template(tenant)))
}

/// Creates a template; with `replace`, an existing one of the name is replaced instead.
/// Returns whether it was created.
pub async fn put(
    db: &TenantDb,
    name: &str,
    description: &str,
    boot_sets: &[BootSet],
    replace: bool,
) -> Result<bool, SessionTemplateError> {
    let now = Utc::now();
    let mut conn = db.acquire().await?;
    let result = with_conn!(&mut conn, c => {
        let updated = if replace {
            sqlx::query("UPDATE session_templates SET description = $2, boot_sets = $3, updated_at = $4 WHERE name = $1")
                .bind(name)
                .bind(description)
                .bind(Json(boot_sets))
                .bind(now)
                .execute(&mut *c)
                .await?
                .rows_affected()
        } else {
            0
        };
        if updated > 0 {
            Ok(false)
        } else {
            sqlx::query(
                "INSERT INTO session_templates (name, description, boot_sets, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)",
            )
            .bind(name)
            .bind(description)
            .bind(Json(boot_sets))
            .bind(now)
            .execute(&mut *c)
            .await
            .map(|_| true)
        }
    });
    match result {
        Ok(created) => Ok(created),
        Err(e) if is_unique_violation(&e) => Err(SessionTemplateError::Exists(name.to_owned())),
        Err(e) => Err(e.into()),
    }
}

/// Returns whether a template was deleted.
pub async fn delete(db: &TenantDb, name: &str) -> Result<bool, TenantDataError> {
    let mut conn = db.acquire().await?;
    let n = with_conn!(&mut conn, c => {
        sqlx::query("DELETE FROM session_templates WHERE name = $1").bind(name).execute(&mut *c).await?.rows_affected()
    });
    Ok(n > 0)
}

/// How many templates the tenant has (for routing verification).
pub async fn count(db: &TenantDb) -> Result<i64, TenantDataError> {
    let mut conn = db.acquire().await?;
    Ok(with_conn!(&mut conn, c => {
        sqlx::query_scalar("SELECT COUNT(*) FROM session_templates").fetch_one(&mut *c).await?
    }))
}
