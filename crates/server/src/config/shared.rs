//! What several replicas share besides the registry: Redis (`cache`) and the media store
//! (`media`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::HumanDuration;
use crate::secret::Secret;

/// Redis, shared by every replica: tenants' rate budgets. Without it they are kept in
/// each process (the embedded default needs no Redis).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// `redis://[user:password@]host:port[/db]`, or `rediss://…` for TLS.
    pub url: Option<Secret>,
    /// With `rediss://`: PEM CA certificates to trust for Redis instead of the system's.
    pub ca_file: Option<PathBuf>,
}

/// Where tenants' media live. Several replicas must share one store: S3-compatible, or a
/// directory on a file system they all mount.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// `file:///srv/tenantry/media` or `s3://bucket[/prefix]`; absent means
    /// `<data_dir>/media`.
    pub url: Option<String>,
    /// S3 settings by their `object_store` names (`endpoint`, `region`, `access_key_id`,
    /// `secret_access_key`, `allow_http`, …); `AWS_*` environment variables apply too.
    pub s3: BTreeMap<String, Secret>,
    /// The largest file one upload may store.
    pub max_object_bytes: u64,
    /// Uploads one tenant may run at once (each buffers up to 5 MiB).
    pub uploads_per_tenant: usize,
    /// An upload that sends nothing for this long is given up (and stores nothing).
    pub upload_idle_timeout: HumanDuration,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            url: None,
            s3: BTreeMap::new(),
            max_object_bytes: 1 << 30,
            uploads_per_tenant: 4,
            upload_idle_timeout: HumanDuration::from_secs(30),
        }
    }
}
