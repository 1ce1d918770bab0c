use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;

/// One lifecycle transition per tenant at a time (create, delete, status change).
#[derive(Default)]
pub struct TenantLocks {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl TenantLocks {
    /// Waits for the tenant's lock (reconcile, which must get to every tenant).
    pub async fn lock(&self, slug: &str) -> OwnedMutexGuard<()> {
        self.entry(slug).lock_owned().await
    }

    /// The tenant's lock if nobody holds it (API calls: a busy tenant answers 409).
    pub fn try_lock(&self, slug: &str) -> Option<OwnedMutexGuard<()>> {
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
    use super::TenantLocks;

    #[tokio::test]
    async fn a_held_tenant_is_busy_for_others_and_free_after() {
        let locks = TenantLocks::default();
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
