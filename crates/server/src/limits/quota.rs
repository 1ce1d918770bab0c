//! `storage_bytes`: over its quota, a tenant's writes are refused (507
//! `storage_quota_exceeded`) and its reads keep working.
//!
//! The size is measured the way each isolation mode reports it (file size,
//! `pg_database_size`, the schema's relations) when the tenant writes, at most once per
//! [`SAMPLE_EVERY`] per tenant and server, so a tenant that only reads costs nothing and a
//! busy writer one size query per interval. A write can therefore overshoot by what fits in
//! one interval. A size that cannot be measured admits the write (logged): the quota is a
//! brake, not the truth of the data.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::store::TenantLocation;
use crate::store::tenants::TenantStorage;

pub const SAMPLE_EVERY: Duration = Duration::from_secs(10);

/// The tenant is at or over its quota.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the tenant uses {used} bytes of its {limit}-byte storage quota")]
pub struct OverQuota {
    pub used: u64,
    pub limit: u64,
}

pub struct Quotas {
    storage: Arc<TenantStorage>,
    samples: Mutex<HashMap<Uuid, (u64, Instant)>>,
}

impl Quotas {
    pub fn new(storage: Arc<TenantStorage>) -> Quotas {
        Quotas {
            storage,
            samples: Mutex::new(HashMap::new()),
        }
    }

    /// Whether the tenant may write, given its `limit`.
    pub async fn check(
        &self,
        id: Uuid,
        loc: &TenantLocation,
        limit: Option<u64>,
    ) -> Result<(), OverQuota> {
        let Some(limit) = limit else {
            return Ok(());
        };
        let used = match self.recent(id) {
            Some(used) => used,
            None => match self.storage.size(loc).await {
                Ok(Some(used)) => {
                    self.lock().insert(id, (used, Instant::now()));
                    used
                }
                Ok(None) => return Ok(()),
                Err(e) => {
                    tracing::warn!(tenant = %loc.slug, error = %e, "could not measure the tenant's storage; its quota is not checked now");
                    return Ok(());
                }
            },
        };
        if used >= limit {
            return Err(OverQuota { used, limit });
        }
        Ok(())
    }

    fn recent(&self, id: Uuid) -> Option<u64> {
        let map = self.lock();
        let (used, at) = map.get(&id)?;
        (at.elapsed() < SAMPLE_EVERY).then_some(*used)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, (u64, Instant)>> {
        self.samples
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
