//! What several replicas share besides the registry: Redis (`cache`) and the media store
//! (`media`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use object_store::aws::AmazonS3ConfigKey;
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

/// Where `media.url` points, parsed once for validation and for opening the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaLocation<'a> {
    /// No `media.url`: `<data_dir>/media`.
    DataDir,
    Directory(&'a std::path::Path),
    S3 {
        bucket: &'a str,
        prefix: &'a str,
    },
}

/// What `media.url` accepts.
pub const MEDIA_URL_RULE: &str =
    "use file:///absolute/path (a directory every replica mounts) or s3://bucket[/prefix]";

impl MediaConfig {
    pub fn location(&self) -> Result<MediaLocation<'_>, &'static str> {
        let Some(url) = &self.url else {
            return Ok(MediaLocation::DataDir);
        };
        match url.split_once("://") {
            Some(("file", path)) if path.starts_with('/') => {
                Ok(MediaLocation::Directory(std::path::Path::new(path)))
            }
            Some(("s3", rest)) => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                match bucket.is_empty() {
                    true => Err(MEDIA_URL_RULE),
                    false => Ok(MediaLocation::S3 {
                        bucket,
                        prefix: prefix.trim_matches('/'),
                    }),
                }
            }
            _ => Err(MEDIA_URL_RULE),
        }
    }

    /// `media.s3.*` as S3 settings; the first name that is none, as an error.
    pub fn s3_settings(&self) -> Result<Vec<(AmazonS3ConfigKey, &Secret)>, String> {
        self.s3
            .iter()
            .map(|(key, value)| match key.parse() {
                Ok(parsed) => Ok((parsed, value)),
                Err(_) => Err(format!("media.s3.{key}")),
            })
            .collect()
    }
}
