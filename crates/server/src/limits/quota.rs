//! `storage_bytes`: over its quota, a tenant's writes are refused (507
//! `storage_quota_exceeded`) and its reads keep working.
//!
//! The size is measured the way each isolation mode reports it (file size,
//! `pg_database_size`, the schema's relations), plus its media, when the tenant writes, at most once per
//! [`SAMPLE_EVERY`] per tenant and server, so a tenant that only reads costs nothing and a
//! busy writer one size query per interval. A write can therefore overshoot by what fits in
//! one interval. A size that cannot be measured admits the write (logged): the quota is a
//! brake, not the truth of the data.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::media::Media;
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
    media: Arc<Media>,
    samples: Mutex<HashMap<Uuid, (u64, Instant)>>,
}

impl Quotas {
    pub fn new(storage: Arc<TenantStorage>, media: Arc<Media>) -> Quotas {
        Quotas {
            storage,
            media,
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
        self.left(id, loc, limit).await.map(drop)
    }

    /// How many bytes the tenant may still write (`None`: no quota, or not measurable now).
    pub async fn left(
        &self,
        id: Uuid,
        loc: &TenantLocation,
        limit: Option<u64>,
    ) -> Result<Option<u64>, OverQuota> {
        let Some(limit) = limit else {
            return Ok(None);
        };
        let used = match self.recent(id) {
            Some(used) => used,
            None => match self.measure(id, loc).await {
                Some(used) => {
                    self.lock().insert(id, (used, Instant::now()));
                    used
                }
                None => return Ok(None),
            },
        };
        if used >= limit {
            return Err(OverQuota { used, limit });
        }
        Ok(Some(limit - used))
    }

    /// Measures again at the next write: after one that may have been large (an upload).
    pub fn forget(&self, id: Uuid) {
        self.lock().remove(&id);
    }

    async fn measure(&self, id: Uuid, loc: &TenantLocation) -> Option<u64> {
        let (storage, media) =
            tokio::join!(self.storage.size(loc), self.media.usage(&loc.slug, id));
        let unmeasured = |what: &str, e: &dyn std::fmt::Display| {
            tracing::warn!(tenant = %loc.slug, error = %e, "could not measure the tenant's {what}; its quota is not checked now");
            None
        };
        let storage = match storage {
            Ok(size) => size?,
            Err(e) => return unmeasured("storage", &e),
        };
        match media {
            Ok(media) => Some(storage + media),
            Err(e) => unmeasured("media", &e),
        }
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
