//! The router's pools: a bounded, lazily filled map from tenant to connection pool.
//!
//! - File and database tenants get a pool each, keyed by tenant id (a re-created tenant of
//!   the same slug never inherits an old pool). Least recently used and idle pools close.
//! - Schema tenants share one pool per instance; every checkout pins `search_path`.
//! - A global budget bounds the connections open to tenant storage: every pool holds as
//!   many permits as it may open connections, and gives them back only once it is fully
//!   closed. So the bound holds even while evicted pools are still closing.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use moka::future::Cache;
use tenantry_proto::Isolation;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

use crate::config::PoolsConfig;
use crate::routing::TenantRoute;
use crate::store::tenants::{StoreError, TenantStorage};
use crate::store::{PoolSettings, TenantDb};

#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("the connection budget ({0} connections) is exhausted")]
    BudgetExhausted(u32),
    #[error(transparent)]
    Store(#[from] Arc<StoreError>),
}

/// A pool and the budget it holds.
#[derive(Clone)]
struct Budgeted {
    db: TenantDb,
    _permits: Arc<OwnedSemaphorePermit>,
}

/// Numbers for `/metrics`.
#[derive(Debug, Clone, Copy)]
pub struct PoolStats {
    pub open_pools: u64,
    pub open_connections: u64,
    pub evictions: u64,
    pub budget: u32,
}

pub struct TenantPools {
    tenants: Cache<Uuid, Budgeted>,
    /// Schema-mode pools, one per instance, kept for the server's life.
    instances: tokio::sync::Mutex<HashMap<String, Budgeted>>,
    storage: Arc<TenantStorage>,
    budget: Arc<Semaphore>,
    max_connections: u32,
    tenant_settings: PoolSettings,
    instance_settings: PoolSettings,
    evictions: Arc<AtomicU64>,
}

impl TenantPools {
    pub fn new(storage: Arc<TenantStorage>, config: &PoolsConfig) -> Self {
        let tenant_settings = PoolSettings {
            max_connections: config.per_tenant,
            idle_timeout: config.idle_timeout.as_duration(),
            acquire_timeout: config.acquire_timeout.as_duration(),
        };
        let instance_settings = PoolSettings {
            max_connections: config.per_instance,
            ..tenant_settings
        };
        let evictions = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&evictions);
        // Weighted by connections: the cache alone keeps the tenant pools under the budget
        // (and under max_open pools); the permits make it a hard bound.
        let capacity = u64::from(config.max_connections)
            .min(config.max_open.saturating_mul(u64::from(config.per_tenant)));
        let tenants = Cache::builder()
            .max_capacity(capacity)
            .weigher(|_, v: &Budgeted| v.weight())
            .time_to_idle(config.idle_timeout.as_duration())
            .eviction_listener(move |_id, pooled: Budgeted, _cause| {
                counter.fetch_add(1, Ordering::Relaxed);
                // Closing waits for checked-out connections, so it runs on its own task; the
                // permits go back only when it is done.
                if let Ok(rt) = tokio::runtime::Handle::try_current() {
                    rt.spawn(async move { pooled.db.db().close().await });
                }
            })
            .build();
        TenantPools {
            tenants,
            instances: tokio::sync::Mutex::new(HashMap::new()),
            storage,
            budget: Arc::new(Semaphore::new(config.max_connections as usize)),
            max_connections: config.max_connections,
            tenant_settings,
            instance_settings,
            evictions,
        }
    }

    /// The tenant's database handle, opening its pool on first use.
    pub async fn get(&self, route: &TenantRoute) -> Result<TenantDb, PoolError> {
        match route.location.isolation {
            Isolation::Collapsed => Ok(self
                .storage
                .open(&route.location, None)
                .await
                .map_err(Arc::new)?),
            Isolation::Schema => {
                let pool = self.instance_pool(&route.location.instance).await?;
                Ok(TenantDb::schema(pool, &route.location.slug.physical_name()))
            }
            Isolation::File | Isolation::Database => {
                if let Some(hit) = self.tenants.get(&route.id).await {
                    return Ok(hit.db);
                }
                let permits = self.permits(self.tenant_settings.max_connections).await?;
                let location = route.location.clone();
                let storage = Arc::clone(&self.storage);
                let settings = self.tenant_settings;
                let pooled = self
                    .tenants
                    .try_get_with(route.id, async move {
                        let db = storage.open(&location, Some(settings)).await?;
                        Ok::<_, StoreError>(Budgeted {
                            db,
                            _permits: Arc::new(permits),
                        })
                    })
                    .await?;
                Ok(pooled.db)
            }
        }
    }

    async fn instance_pool(&self, instance: &str) -> Result<sqlx::PgPool, PoolError> {
        let mut pools = self.instances.lock().await;
        if let Some(pooled) = pools.get(instance)
            && let crate::store::Db::Postgres(pool) = pooled.db.db()
        {
            return Ok(pool.clone());
        }
        let permits = self.permits(self.instance_settings.max_connections).await?;
        let pool = self
            .storage
            .open_schema_pool(instance, self.instance_settings)
            .await
            .map_err(Arc::new)?;
        pools.insert(
            instance.to_owned(),
            Budgeted {
                db: TenantDb::whole(crate::store::Db::Postgres(pool.clone())),
                _permits: Arc::new(permits),
            },
        );
        Ok(pool)
    }

    /// Waits (up to the acquire timeout) for budget; evicted pools give theirs back as
    /// they finish closing.
    async fn permits(&self, n: u32) -> Result<OwnedSemaphorePermit, PoolError> {
        if let Ok(p) = Arc::clone(&self.budget).try_acquire_many_owned(n) {
            return Ok(p);
        }
        self.tenants.run_pending_tasks().await;
        let wait = self
            .tenant_settings
            .acquire_timeout
            .max(Duration::from_millis(100));
        match tokio::time::timeout(wait, Arc::clone(&self.budget).acquire_many_owned(n)).await {
            Ok(Ok(p)) => Ok(p),
            _ => Err(PoolError::BudgetExhausted(self.max_connections)),
        }
    }

    /// Closes and forgets the tenant's pool; waits until its connections are closed.
    pub async fn evict(&self, id: Uuid) {
        if let Some(pooled) = self.tenants.remove(&id).await {
            pooled.db.db().close().await;
        }
    }

    pub fn stats(&self) -> PoolStats {
        let tenant_conns: u64 = self
            .tenants
            .iter()
            .map(|(_, p)| u64::from(p.db.db().size()))
            .sum();
        let (instance_pools, instance_conns) = match self.instances.try_lock() {
            Ok(map) => (
                map.len() as u64,
                map.values().map(|p| u64::from(p.db.db().size())).sum(),
            ),
            Err(_) => (0, 0),
        };
        PoolStats {
            open_pools: self.tenants.entry_count() + instance_pools,
            open_connections: tenant_conns + instance_conns,
            evictions: self.evictions.load(Ordering::Relaxed),
            budget: self.max_connections,
        }
    }

    /// Closes every pool (at shutdown).
    pub async fn close_all(&self) {
        let all: Vec<Budgeted> = self.tenants.iter().map(|(_, p)| p).collect();
        self.tenants.invalidate_all();
        for pooled in all {
            pooled.db.db().close().await;
        }
        for (_, pooled) in self.instances.lock().await.drain() {
            pooled.db.db().close().await;
        }
    }
}

impl Budgeted {
    fn weight(&self) -> u32 {
        self._permits.num_permits() as u32
    }
}
