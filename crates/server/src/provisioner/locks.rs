//! One lifecycle operation per tenant at a time (create, delete, status change), in this
//! process and across every server on the registry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;

use crate::catalog::{Catalog, CatalogError, RegistryLease};
use crate::names::Slug;

/// In this process first (cheap, and no registry connection for a request that would
/// lose anyway), then in the registry.
pub struct TenantLocks {
    local: LocalLocks,
    catalog: Catalog,
}

/// A tenant's lifecycle lock, held here and in the registry.
pub struct Held {
    _local: OwnedMutexGuard<()>,
    lease: RegistryLease,
}

impl Held {
    /// Frees the lock for every server at once. Dropping it instead frees it when the
    /// registry sees its connection close.
    pub async fn release(self) {
        self.lease.release().await;
    }
}

impl TenantLocks {
    pub fn new(catalog: Catalog) -> TenantLocks {
        TenantLocks {
            local: LocalLocks::default(),
            catalog,
        }
    }

    /// The tenant's lock if no operation holds it here or on another server.
    pub async fn try_lock(&self, slug: &Slug) -> Result<Option<Held>, CatalogError> {
        let Some(local) = self.local.try_lock(slug.as_str()) else {
            return Ok(None);
        };
        Ok(self
            .catalog
            .try_lifecycle_lock(slug)
            .await?
            .map(|lease| Held {
                _local: local,
                lease,
            }))
    }

    /// The tenant's lock, waiting for whoever holds it.
    pub async fn lock(&self, slug: &Slug) -> Result<Held, CatalogError> {
        let local = self.local.lock(slug.as_str()).await;
        let lease = self.catalog.lifecycle_lock(slug).await?;
        Ok(Held {
            _local: local,
            lease,
        })
    }
}

#[derive(Default)]
struct LocalLocks {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl LocalLocks {
    async fn lock(&self, slug: &str) -> OwnedMutexGuard<()> {
        self.entry(slug).lock_owned().await
    }

    fn try_lock(&self, slug: &str) -> Option<OwnedMutexGuard<()>> {
        self.entry(slug).try_lock_owned().ok()
    }

    fn entry(&self, slug: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self
            .locks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Drop entries nobody holds, so the map stays as small as the work in flight.
        map.retain(|_, l| Arc::strong_count(l) > 1);
        Arc::clone(map.entry(slug.to_owned()).or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::LocalLocks;

    #[tokio::test]
    async fn a_held_tenant_is_busy_for_others_and_free_after() {
        let locks = LocalLocks::default();
        let held = locks.try_lock("acme");
        assert!(held.is_some());
        assert!(
            locks.try_lock("acme").is_none(),
            "a second operation got in"
        );
        assert!(
            locks.try_lock("globex").is_some(),
            "another tenant is not busy"
        );
        drop(held);
        assert!(locks.try_lock("acme").is_some());
        // Reconcile waits instead of failing.
        let _waited = locks.lock("acme").await;
    }
}
