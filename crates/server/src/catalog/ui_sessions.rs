//! Sealed admin UI sessions (`registry_ui_sessions`); see `ui/session.rs`.

use chrono::{DateTime, Utc};

use super::measure::op;
use super::{Catalog, CatalogError};

impl Catalog {
    /// Stores (or replaces) a session; expired ones are dropped on the way.
    pub async fn put_ui_session(
        &self,
        id_hash: &str,
        sealed: &[u8],
        expires_at: DateTime<Utc>,
    ) -> Result<(), CatalogError> {
        let now = Utc::now();
        op!(self, "put_ui_session", Write, pool => {
            sqlx::query("DELETE FROM registry_ui_sessions WHERE expires_at <= $1")
                .bind(now)
                .execute(pool)
                .await?;
            sqlx::query(
                "INSERT INTO registry_ui_sessions (id_hash, sealed, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (id_hash) DO UPDATE SET sealed = excluded.sealed, expires_at = excluded.expires_at",
            )
            .bind(id_hash)
            .bind(sealed)
            .bind(expires_at)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(())
    }

    /// A live session's sealed bytes and expiry.
    pub async fn ui_session(
        &self,
        id_hash: &str,
    ) -> Result<Option<(Vec<u8>, DateTime<Utc>)>, CatalogError> {
        let now = Utc::now();
        Ok(op!(self, "ui_session", Read, pool => {
            sqlx::query_as(
                "SELECT sealed, expires_at FROM registry_ui_sessions WHERE id_hash = $1 AND expires_at > $2",
            )
            .bind(id_hash)
            .bind(now)
            .fetch_optional(pool)
            .await?
        }))
    }

    pub async fn delete_ui_session(&self, id_hash: &str) -> Result<(), CatalogError> {
        op!(self, "delete_ui_session", Write, pool => {
            sqlx::query("DELETE FROM registry_ui_sessions WHERE id_hash = $1")
                .bind(id_hash)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(())
    }
}
