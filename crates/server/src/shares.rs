//! Per-tenant shares of something every tenant uses: at most N of one tenant's requests
//! hold it at once, so one tenant can take all of its own share and nothing of anyone
//! else's. Connections (`pools`) and uploads (`media`) are shared this way.
//!
//! A tenant's share of connections: at most `max_connections` of its requests hold its
//! storage at once (`pools.per_tenant` unless its limits say otherwise), whatever pool is
//! underneath. In schema mode that pool is the instance's, shared by every tenant on it:
//! without a share, one tenant whose table is locked, with dozens of clients waiting on it,
//! held every connection and stalled every other tenant of the instance (measured: 4.4 s
//! waits, then 503s). With one, its own requests queue here and give up with 503
//! `storage_busy` after `pools.acquire_timeout`; everyone else's go through.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

/// More tenants than this and the shares nobody holds are dropped.
const PRUNE_AT: usize = 4096;

pub struct Shares {
    by_tenant: Mutex<HashMap<Uuid, (u32, Arc<Semaphore>)>>,
    wait: Duration,
}

impl Shares {
    pub fn new(wait: Duration) -> Shares {
        Shares {
            by_tenant: Mutex::new(HashMap::new()),
            wait,
        }
    }

    /// One place in the tenant's share of `size`, waiting at most `wait` (zero: only a
    /// place free now). `None` when its share stayed full that long.
    pub async fn take(&self, tenant: Uuid, size: u32) -> Option<OwnedSemaphorePermit> {
        let semaphore = self.semaphore(tenant, size.max(1));
        tokio::time::timeout(self.wait, semaphore.acquire_owned())
            .await
            .ok()?
            .ok()
    }

    fn semaphore(&self, tenant: Uuid, size: u32) -> Arc<Semaphore> {
        let mut map = self
            .by_tenant
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((known, semaphore)) = map.get(&tenant)
            && *known == size
        {
            return Arc::clone(semaphore);
        }
        if map.len() >= PRUNE_AT {
            // A share nobody holds is as good as a new one.
            map.retain(|_, (known, s)| s.available_permits() < *known as usize);
        }
        // A new size (its limits changed) starts a new share; places held in the old one
        // are given back to it, and it goes when the last is.
        let semaphore = Arc::new(Semaphore::new(size as usize));
        map.insert(tenant, (size, Arc::clone(&semaphore)));
        semaphore
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_share_refuses_its_tenant_only() {
        let shares = Shares::new(Duration::from_millis(20));
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let first = shares.take(a, 1).await;
        assert!(first.is_some());
        assert!(
            shares.take(a, 1).await.is_none(),
            "a second place in a share of one"
        );
        assert!(
            shares.take(b, 1).await.is_some(),
            "another tenant was held up"
        );
        drop(first);
        assert!(shares.take(a, 1).await.is_some());
    }
}
