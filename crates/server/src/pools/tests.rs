use std::collections::BTreeMap;

use tenantry_proto::Isolation;

use super::*;
use crate::broker::StaticCredentials;
use crate::config::HumanDuration;
use crate::migrator::{Chains, Templates};
use crate::names::{DataLayout, Slug};
use crate::store::{Backend, sqlite};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Real file tenants in a temporary directory, and pools over them whose budget holds
/// `fit` tenant pools of two connections each.
struct Fixture {
    _dir: tempfile::TempDir,
    pools: TenantPools,
    tenants: Vec<(Uuid, TenantLocation)>,
}

async fn fixture(tenants: usize, fit: u32) -> Result<Fixture> {
    let dir = tempfile::TempDir::new()?;
    let layout = DataLayout::new(dir.path());
    let config = PoolsConfig {
        max_open: 100,
        per_tenant: 2,
        per_instance: 2,
        max_connections: 2 * fit,
        idle_timeout: HumanDuration::from_secs(600),
        // Also how long the budget waits for room before it gives up.
        acquire_timeout: HumanDuration::from_secs(1),
    };
    let settings = PoolSettings {
        max_connections: 2,
        idle_timeout: Duration::from_secs(600),
        acquire_timeout: Duration::from_secs(5),
        max_lifetime: None,
    };
    std::fs::create_dir_all(layout.root())?;
    let registry = sqlite::open(&layout.registry_db(), settings, true).await?;
    let credentials: Arc<dyn CredentialSource> = Arc::new(StaticCredentials);
    let storage = Arc::new(TenantStorage::new(
        layout,
        registry,
        settings,
        Arc::clone(&credentials),
        Arc::new(Templates::new(Arc::new(Chains::embedded(Backend::Sqlite)))),
        BTreeMap::new(),
    ));
    let mut made = Vec::new();
    for i in 0..tenants {
        let loc = TenantLocation {
            slug: Slug::parse(&format!("tenant-{i}"))?,
            isolation: Isolation::File,
            instance: "embedded".into(),
        };
        storage.create(&loc).await?;
        made.push((Uuid::now_v7(), loc));
    }
    Ok(Fixture {
        _dir: dir,
        pools: TenantPools::new(storage, credentials, &config),
        tenants: made,
    })
}

impl Fixture {
    async fn get(&self, i: usize) -> std::result::Result<TenantDb, PoolError> {
        let (id, loc) = &self.tenants[i];
        self.pools.get(*id, loc, &Default::default()).await
    }

    async fn cached(&self, i: usize) -> bool {
        self.pools.tenants.contains_key(&self.tenants[i].0)
    }
}

#[tokio::test]
async fn a_full_budget_closes_the_least_recently_used_idle_pool() -> Result<()> {
    let f = fixture(3, 2).await?;
    drop(f.get(0).await?);
    drop(f.get(1).await?);
    // Tenant 0 is used again: tenant 1 is now the least recently used.
    drop(f.get(0).await?);
    drop(f.get(2).await?);
    assert!(f.cached(0).await, "the recently used pool was closed");
    assert!(!f.cached(1).await, "the least recently used pool was kept");
    assert!(f.cached(2).await);
    Ok(())
}

#[tokio::test]
async fn a_pool_a_request_holds_is_never_closed_for_room() -> Result<()> {
    let f = fixture(3, 2).await?;
    let held = (f.get(0).await?, f.get(1).await?);
    let refused = f.get(2).await;
    assert!(
        matches!(refused, Err(PoolError::BudgetExhausted(4))),
        "room was made by closing a pool in use: {:?}",
        refused.map(|_| ())
    );
    assert!(f.cached(0).await && f.cached(1).await);
    // Once a request lets go, its pool makes room.
    drop(held.0);
    drop(f.get(2).await?);
    assert!(!f.cached(0).await);
    assert!(f.cached(1).await, "the pool still held was closed");
    Ok(())
}

#[tokio::test]
async fn retiring_waits_for_the_tenants_requests_then_refuses_its_storage() -> Result<()> {
    let f = fixture(1, 2).await?;
    let held = f.get(0).await?;
    let id = f.tenants[0].0;
    let pools = Arc::new(f.pools);
    let retiring = {
        let pools = Arc::clone(&pools);
        tokio::spawn(async move { pools.retire(id).await })
    };
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(!retiring.is_finished(), "retired under a request");
    drop(held);
    retiring.await?;
    let (_, loc) = &f.tenants[0];
    assert!(matches!(
        pools.get(id, loc, &Default::default()).await,
        Err(PoolError::Retired)
    ));
    assert!(
        !pools.tenants.contains_key(&id),
        "a retired tenant's pool stays open"
    );
    Ok(())
}
