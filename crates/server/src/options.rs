//! Service-wide options (`/api/v2/options`), kept in the shared partition: the same for
//! every tenant, changed by operators only.

use chrono::Utc;
use tenantry_proto::{Options, UpdateOptions};

use crate::store::Db;
use crate::with_db;

const SESSION_TIMEOUT: &str = "default_session_timeout_secs";
const CLEANUP_AGE: &str = "cleanup_age_secs";

/// The options, with defaults for what was never set.
pub async fn get(shared: &Db) -> Result<Options, sqlx::Error> {
    let rows: Vec<(String, String)> = with_db!(shared, pool => {
        sqlx::query_as("SELECT key, value FROM shared_options").fetch_all(pool).await?
    });
    let mut options = Options::default();
    for (key, value) in rows {
        let Ok(n) = value.parse::<u64>() else {
            continue;
        };
        match key.as_str() {
            SESSION_TIMEOUT => options.default_session_timeout_secs = n,
            CLEANUP_AGE => options.cleanup_age_secs = n,
            _ => {}
        }
    }
    Ok(options)
}

/// Checks new values: a timeout of 10 s to 30 days, a cleanup age of 1 h to 365 days.
pub fn validate(update: &UpdateOptions) -> Result<(), String> {
    if update
        .default_session_timeout_secs
        .is_some_and(|t| !(10..=30 * 86_400).contains(&t))
    {
        return Err("default_session_timeout_secs is between 10 and 2592000".into());
    }
    if update
        .cleanup_age_secs
        .is_some_and(|t| !(3600..=365 * 86_400).contains(&t))
    {
        return Err("cleanup_age_secs is between 3600 and 31536000".into());
    }
    Ok(())
}

pub async fn set(shared: &Db, update: &UpdateOptions) -> Result<Options, sqlx::Error> {
    let now = Utc::now();
    for (key, value) in [
        (SESSION_TIMEOUT, update.default_session_timeout_secs),
        (CLEANUP_AGE, update.cleanup_age_secs),
    ] {
        let Some(value) = value else { continue };
        with_db!(shared, pool => {
            sqlx::query(
                "INSERT INTO shared_options (key, value, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )
            .bind(key)
            .bind(value.to_string())
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
    }
    get(shared).await
}
