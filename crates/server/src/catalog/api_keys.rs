use chrono::Utc;
use uuid::Uuid;

use super::{Catalog, CatalogError};
use crate::with_db;

impl Catalog {
    /// Stores the hash of a new operator API key.
    pub async fn insert_api_key(&self, key_hash: &str, label: &str) -> Result<(), CatalogError> {
        with_db!(&self.db, pool => {
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
        Ok(with_db!(&self.db, pool => {
            sqlx::query_scalar("SELECT key_hash FROM registry_api_keys").fetch_all(pool).await?
        }))
    }
}
