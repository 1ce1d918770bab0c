use chrono::Utc;
use uuid::Uuid;

use super::measure::op;
use super::{Catalog, CatalogError};

impl Catalog {
    /// Stores the hash of a new operator API key.
    pub async fn insert_api_key(&self, key_hash: &str, label: &str) -> Result<(), CatalogError> {
        op!(self, "insert_api_key", Write, pool => {
            sqlx::query("INSERT INTO registry_api_keys (id, key_hash, label, created_at) VALUES ($1, $2, $3, $4)")
                .bind(Uuid::now_v7())
                .bind(key_hash)
                .bind(label)
                .bind(Utc::now())
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    /// Hashes of every stored operator API key.
    pub async fn api_key_hashes(&self) -> Result<Vec<String>, CatalogError> {
        Ok(op!(self, "api_key_hashes", Read, pool => {
            sqlx::query_scalar("SELECT key_hash FROM registry_api_keys").fetch_all(pool).await?
        }))
    }
}
