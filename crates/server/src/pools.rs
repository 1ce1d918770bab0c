//! The router's pools: a bounded, lazily filled map from tenant to connection pool.
//! Least recently used and idle pools are closed; a pool is keyed by tenant id, so a
//! re-created tenant of the same slug never inherits an old pool.

use std::sync::Arc;

use moka::future::Cache;
use tenantry_proto::Isolation;
use uuid::Uuid;

use crate::config::PoolsConfig;
use crate::routing::TenantRoute;
use crate::store::Db;
use crate::store::tenants::{StoreError, TenantStorage};

#[derive(Debug, thiserror::Error)]
#[error("could not open the tenant's database: {0}")]
pub struct PoolError(String);

pub struct TenantPools {
    cache: Cache<Uuid, Db>,
    storage: Arc<TenantStorage>,
}

impl TenantPools {
    pub fn new(storage: Arc<TenantStorage>, config: &PoolsConfig) -> Self {
        let cache = Cache::builder()
            .max_capacity(config.max_open)
            .time_to_idle(config.idle_timeout.as_duration())
            .eviction_listener(|_id, db: Db, _cause| {
                // Closing waits for checked-out connections, so it runs on its own task.
                if let Ok(rt) = tokio::runtime::Handle::try_current() {
                    rt.spawn(async move { db.close().await });
                }
            })
            .build();
        TenantPools { cache, storage }
    }

    /// The tenant's pool, opened on first use.
    pub async fn get(&self, route: &TenantRoute) -> Result<Db, PoolError> {
        if route.location.isolation == Isolation::Collapsed {
            return self
                .storage
                .open(&route.location, None)
                .await
                .map_err(|e| PoolError(e.to_string()));
        }
        let location = route.location.clone();
        let storage = Arc::clone(&self.storage);
        self.cache
            .try_get_with(route.id, async move { storage.open(&location, None).await })
            .await
            .map_err(|e: Arc<StoreError>| PoolError(e.to_string()))
    }

    /// Closes and forgets the tenant's pool; waits until its connections are closed.
    pub async fn evict(&self, id: Uuid) {
        if let Some(db) = self.cache.remove(&id).await {
            db.close().await;
        }
    }

    /// Pools currently open.
    pub fn open_pools(&self) -> u64 {
        self.cache.entry_count()
    }

    /// Closes every pool (at shutdown).
    pub async fn close_all(&self) {
        let all: Vec<_> = self.cache.iter().map(|(_, db)| db).collect();
        self.cache.invalidate_all();
        for db in all {
            db.close().await;
        }
    }
}
