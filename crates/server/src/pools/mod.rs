//! Tenant pools: a bounded, lazily filled map from tenant to connection pool.
//!
//! - File and database tenants get a pool each, keyed by tenant id (a re-created tenant of
//!   the same slug never inherits an old pool). Least recently used and idle pools close.
//! - Schema tenants share one pool per instance; every checkout pins `search_path` (and,
//!   under OpenBAO, `SET ROLE`s to the tenant's group role: decision 0008).
//! - A global budget bounds the connections open to tenant storage: every pool holds as
//!   many permits as it may open connections, and gives them back only once it is fully
//!   closed — so the bound holds even while evicted pools are still closing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moka::future::Cache;
use tenantry_proto::TenantLimits;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

use crate::config::PoolsConfig;
use crate::shares::Shares;
use crate::store::credentials::CredentialSource;
use crate::store::isolation::{Pooling, mode};
use crate::store::tenants::{StoreError, TenantStorage};
use crate::store::{Db, Leases, PoolSettings, TenantDb, TenantLocation};

#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("the connection budget ({0} connections) is exhausted")]
    BudgetExhausted(u32),
    #[error("the tenant is being deleted")]
    Retired,
    /// Its share of connections stayed full for the acquire timeout.
    #[error("every connection of tenant {0}'s share is in use")]
    ShareFull(String),
    #[error(transparent)]
    Store(#[from] Arc<StoreError>),
}

/// A tenant's pool in the cache. Its budget is held in [`Budget`] under `serial`, not here,
/// because the cache may keep evicted values alive for a while.
#[derive(Clone)]
struct Cached {
    db: TenantDb,
    serial: u64,
    /// The broker's credential epoch when this pool last took its tenant's credentials.
    epoch: Arc<AtomicU64>,
    last_used: Arc<AtomicU64>,
    /// Handles of this pool held by requests right now.
    leases: Arc<Leases>,
}

impl Cached {
    /// A handle for one request; the pool is not closed while it lives. `None` when the
    /// pool is already being closed.
    fn hand_out(&self) -> Option<TenantDb> {
        self.leases
            .try_lease()
            .map(|lease| self.db.clone().leased(lease))
    }
}

/// Numbers for `/metrics`.
#[derive(Debug, Clone, Copy)]
pub struct PoolStats {
    pub open_pools: u64,
    pub open_connections: u64,
    pub evictions: u64,
    pub budget: u32,
}

/// Permits held by open pools, released only after a pool is closed.
struct Budget {
    semaphore: Arc<Semaphore>,
    held: Mutex<HashMap<u64, OwnedSemaphorePermit>>,
    next: AtomicU64,
    total: u32,
}

impl Budget {
    fn hold(&self, permit: OwnedSemaphorePermit) -> u64 {
        let serial = self.next.fetch_add(1, Ordering::Relaxed);
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(serial, permit);
        serial
    }

    /// Waits until no request holds the pool, then closes it.
    async fn close_when_idle(&self, cached: &Cached) {
        if cached.leases.claim_for_close().await {
            self.close(cached.db.db(), cached.serial).await;
        }
    }

    /// Closes the pool, then gives its permits back. Idempotent per serial.
    async fn close(&self, db: &Db, serial: u64) {
        db.close().await;
        self.release(serial);
    }

    /// Gives back the permits held under `serial` (its pool is closed, or never opened).
    fn release(&self, serial: u64) {
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&serial);
    }
}

/// An instance's schema-mode pool, kept for the server's life.
struct InstancePool {
    pool: sqlx::PgPool,
    serial: u64,
    /// The broker's credential epoch when this pool last took the router's credentials.
    epoch: AtomicU64,
}

pub struct TenantPools {
    tenants: Cache<Uuid, Cached>,
    /// Schema-mode pools by instance: read on every schema request, written once each.
    instances: std::sync::RwLock<HashMap<String, Arc<InstancePool>>>,
    /// Held while an instance's pool is being opened, so it is opened once.
    opening: tokio::sync::Mutex<()>,
    storage: Arc<TenantStorage>,
    /// Where pools' credentials come from; its epoch says when they changed.
    credentials: Arc<dyn CredentialSource>,
    budget: Arc<Budget>,
    tenant_settings: PoolSettings,
    instance_settings: PoolSettings,
    evictions: Arc<AtomicU64>,
    /// Counts uses: a pool's last use is its place in this order (least recently used
    /// goes first), exact however close together two uses are.
    uses: AtomicU64,
    /// Per tenant, the requests using its storage now. Deleting a tenant retires it: no
    /// request gets its storage any more, and the purge waits for the last one using it.
    /// A retired tenant's entry stays, closed, as a tombstone (its id is never reused).
    gates: std::sync::RwLock<HashMap<Uuid, Arc<Leases>>>,
    /// Per tenant, how many of its requests may hold its storage at once.
    shares: Shares,
    /// A tenant's share unless its limits set `max_connections`.
    default_share: u32,
}

impl TenantPools {
    pub fn new(
        storage: Arc<TenantStorage>,
        credentials: Arc<dyn CredentialSource>,
        config: &PoolsConfig,
    ) -> Self {
        let tenant_settings = PoolSettings {
            max_connections: config.per_tenant,
            idle_timeout: config.idle_timeout.as_duration(),
            acquire_timeout: config.acquire_timeout.as_duration(),
            max_lifetime: None,
        };
        let instance_settings = PoolSettings {
            max_connections: config.per_instance,
            ..tenant_settings
        };
        let budget = Arc::new(Budget {
            semaphore: Arc::new(Semaphore::new(config.max_connections as usize)),
            held: Mutex::new(HashMap::new()),
            next: AtomicU64::new(0),
            total: config.max_connections,
        });
        let evictions = Arc::new(AtomicU64::new(0));
        let (counter, on_evict) = (Arc::clone(&evictions), Arc::clone(&budget));
        let tenants = Cache::builder()
            .max_capacity(config.max_open)
            .time_to_idle(config.idle_timeout.as_duration())
            .eviction_listener(move |_id, cached: Cached, _cause| {
                counter.fetch_add(1, Ordering::Relaxed);
                // Closing waits for checked-out connections, so it runs on its own task.
                let budget = Arc::clone(&on_evict);
                if let Ok(rt) = tokio::runtime::Handle::try_current() {
                    rt.spawn(async move { budget.close_when_idle(&cached).await });
                }
            })
            .build();
        TenantPools {
            tenants,
            instances: std::sync::RwLock::new(HashMap::new()),
            opening: tokio::sync::Mutex::new(()),
            storage,
            credentials,
            budget,
            tenant_settings,
            instance_settings,
            evictions,
            uses: AtomicU64::new(0),
            gates: std::sync::RwLock::new(HashMap::new()),
            shares: Shares::new(config.acquire_timeout.as_duration()),
            default_share: config.per_tenant,
        }
    }

    /// The tenant's database handle, opening its pool on first use. Refused once the
    /// tenant is retired; the handle keeps the tenant from being purged while it lives.
    ///
    /// Its `limits` apply: at most `max_connections` (default `pools.per_tenant`) of its
    /// requests hold its storage at once, more wait up to `pools.acquire_timeout`; its
    /// statements are cut off after `statement_timeout_ms`.
    pub async fn get(
        &self,
        id: Uuid,
        loc: &TenantLocation,
        limits: &TenantLimits,
    ) -> Result<TenantDb, PoolError> {
        let lease = self.gate(id).try_lease().ok_or(PoolError::Retired)?;
        let size = limits.max_connections.unwrap_or(self.default_share);
        let share = self
            .shares
            .take(id, size)
            .await
            .ok_or_else(|| PoolError::ShareFull(loc.slug.to_string()))?;
        Ok(self
            .open(id, loc)
            .await?
            .for_tenant(lease)
            .sharing(Arc::new(share))
            .limit_statements(limits.statement_timeout_ms))
    }

    fn gate(&self, id: Uuid) -> Arc<Leases> {
        if let Some(gate) = self
            .gates
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
        {
            return Arc::clone(gate);
        }
        let mut gates = self.gates.write().unwrap_or_else(|p| p.into_inner());
        Arc::clone(gates.entry(id).or_default())
    }

    /// Stops handing out the tenant's storage, waits until no request uses it, then
    /// closes its pool: what the purge runs before it drops anything.
    pub async fn retire(&self, id: Uuid) {
        self.gate(id).claim_for_close().await;
        self.evict(id).await;
    }

    async fn open(&self, id: Uuid, loc: &TenantLocation) -> Result<TenantDb, PoolError> {
        match mode(loc.isolation).pooling() {
            Pooling::Registry => Ok(self.storage.open(loc, None).await.map_err(Arc::new)?),
            Pooling::Instance => {
                let pool = self.instance_pool(&loc.instance).await?;
                Ok(self.storage.on_instance_pool(pool, loc).map_err(Arc::new)?)
            }
            Pooling::Tenant => {
                // A cached pool may be closing (evicted a moment ago); it is out of the cache
                // by then, so the next round opens a fresh one.
                for _ in 0..3 {
                    if let Some(db) = self.tenant_pool(id, loc).await? {
                        return Ok(db);
                    }
                }
                Err(PoolError::BudgetExhausted(self.budget.total))
            }
        }
    }

    async fn tenant_pool(
        &self,
        id: Uuid,
        loc: &TenantLocation,
    ) -> Result<Option<TenantDb>, PoolError> {
        let broker = &self.credentials;
        if let Some(hit) = self.tenants.get(&id).await {
            hit.last_used.store(self.now(), Ordering::Relaxed);
            // Credentials changed somewhere since this pool last looked: take the tenant's
            // current ones (from memory) for new connections.
            let current = broker.epoch();
            if hit.epoch.swap(current, Ordering::Relaxed) != current {
                self.storage
                    .refresh_credentials(loc, &hit.db)
                    .await
                    .map_err(Arc::new)?;
            }
            return Ok(hit.hand_out());
        }
        let permit = self.permits(self.tenant_settings.max_connections).await?;
        let serial = self.budget.hold(permit);
        // Read before opening: a change while opening is caught by the next request.
        let epoch = Arc::new(AtomicU64::new(broker.epoch()));
        let (location, storage) = (loc.clone(), Arc::clone(&self.storage));
        let (settings, now) = (self.tenant_settings, self.now());
        let result = self
            .tenants
            .try_get_with(id, async move {
                let db = storage.open(&location, Some(settings)).await?;
                Ok::<_, StoreError>(Cached {
                    db,
                    serial,
                    epoch,
                    last_used: Arc::new(AtomicU64::new(now)),
                    leases: Arc::new(Leases::default()),
                })
            })
            .await;
        match result {
            Ok(cached) if cached.serial == serial => Ok(cached.hand_out()),
            // Another request opened it first, or the open failed: our permits back
            // the pool that exists, or none.
            Ok(cached) => {
                self.budget.release(serial);
                Ok(cached.hand_out())
            }
            Err(e) => {
                self.budget.release(serial);
                Err(e.into())
            }
        }
    }

    async fn instance_pool(&self, instance: &str) -> Result<sqlx::PgPool, PoolError> {
        if let Some(open) = self.open_instance_pool(instance) {
            // The router's credentials changed somewhere: take its current ones.
            let current = self.credentials.epoch();
            if open.epoch.swap(current, Ordering::Relaxed) != current {
                self.storage
                    .refresh_schema_login_credentials(instance, &open.pool)
                    .await
                    .map_err(Arc::new)?;
            }
            return Ok(open.pool.clone());
        }
        let _opening = self.opening.lock().await;
        if let Some(open) = self.open_instance_pool(instance) {
            return Ok(open.pool.clone());
        }
        let permit = self.permits(self.instance_settings.max_connections).await?;
        let epoch = AtomicU64::new(self.credentials.epoch());
        let pool = self
            .storage
            .open_instance_pool(instance, self.instance_settings)
            .await
            .map_err(Arc::new)?;
        let serial = self.budget.hold(permit);
        let open = Arc::new(InstancePool {
            pool: pool.clone(),
            serial,
            epoch,
        });
        self.instances
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(instance.to_owned(), open);
        Ok(pool)
    }

    fn open_instance_pool(&self, instance: &str) -> Option<Arc<InstancePool>> {
        self.instances
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(instance)
            .cloned()
    }

    /// Takes budget for a new pool. When the budget is spent, the least recently used
    /// tenant pool is closed to make room. Gives up after the acquire timeout.
    async fn permits(&self, n: u32) -> Result<OwnedSemaphorePermit, PoolError> {
        let semaphore = &self.budget.semaphore;
        let deadline = tokio::time::Instant::now()
            + self
                .tenant_settings
                .acquire_timeout
                .max(Duration::from_millis(100));
        loop {
            if let Ok(p) = Arc::clone(semaphore).try_acquire_many_owned(n) {
                return Ok(p);
            }
            // Never a pool a request is using: closing it would fail that request.
            let victim = self
                .tenants
                .iter()
                .filter(|(_, c)| !c.leases.in_use())
                .min_by_key(|(_, c)| c.last_used.load(Ordering::Relaxed))
                .map(|(id, _)| *id);
            // Out of the cache at once; closed (and its budget returned) once no request
            // holds it — possibly after a request that took it a moment ago finishes.
            if let Some(id) = victim
                && let Some(cached) = self.tenants.remove(&id).await
            {
                let budget = Arc::clone(&self.budget);
                tokio::spawn(async move { budget.close_when_idle(&cached).await });
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(PoolError::BudgetExhausted(self.budget.total));
            }
            // Pools closing on other tasks give theirs back too.
            let slice = (deadline - now).min(Duration::from_millis(200));
            if let Ok(Ok(p)) =
                tokio::time::timeout(slice, Arc::clone(semaphore).acquire_many_owned(n)).await
            {
                return Ok(p);
            }
        }
    }

    /// The next place in the order of uses.
    fn now(&self) -> u64 {
        self.uses.fetch_add(1, Ordering::Relaxed)
    }

    /// Closes and forgets the tenant's pool; waits until its connections are closed.
    pub async fn evict(&self, id: Uuid) {
        if let Some(cached) = self.tenants.remove(&id).await {
            self.budget.close(cached.db.db(), cached.serial).await;
        }
    }

    pub fn stats(&self) -> PoolStats {
        let tenant_conns: u64 = self
            .tenants
            .iter()
            .map(|(_, c)| u64::from(c.db.db().size()))
            .sum();
        let (instance_pools, instance_conns) = {
            let map = self.instances.read().unwrap_or_else(|p| p.into_inner());
            (
                map.len() as u64,
                map.values().map(|p| u64::from(p.pool.size())).sum::<u64>(),
            )
        };
        PoolStats {
            open_pools: self.tenants.entry_count() + instance_pools,
            open_connections: tenant_conns + instance_conns,
            evictions: self.evictions.load(Ordering::Relaxed),
            budget: self.budget.total,
        }
    }

    /// Closes every pool (at shutdown).
    pub async fn close_all(&self) {
        let all: Vec<Cached> = self.tenants.iter().map(|(_, c)| c).collect();
        self.tenants.invalidate_all();
        for cached in all {
            self.budget.close(cached.db.db(), cached.serial).await;
        }
        let instances: Vec<Arc<InstancePool>> = self
            .instances
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .map(|(_, p)| p)
            .collect();
        for open in instances {
            self.budget
                .close(&Db::Postgres(open.pool.clone()), open.serial)
                .await;
        }
    }
}

#[cfg(test)]
mod tests;
