//! Tenants' media: the files a tenant keeps (boot images, kernels, …), as objects in one
//! store that every replica shares — a directory under `data_dir` by default, S3-compatible
//! or a directory on a shared file system when several replicas run (decision 0016).
//!
//! Every object of a tenant is `<slug>/<tenant id>/<name>` (`Slug::media_area`). A purge
//! removes everything under `<slug>/` and lists it again to verify; an upload that lands
//! after a purge (it ran on another replica) sits under the purged incarnation, where no
//! later tenant of that slug ever looks, and is swept when the slug is created again.

mod name;
mod upload;

use std::collections::BinaryHeap;
use std::sync::Arc;

use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{GetResult, ObjectMeta, ObjectStore, ObjectStoreExt};
use tenantry_proto::MediaObject;
use uuid::Uuid;

pub use name::{MEDIA_NAME_RULE, MediaName, MediaNameError};
pub use upload::{UploadError, UploadLimit};

use crate::config::{MediaConfig, MediaLocation};
use crate::names::{DataLayout, Slug};
use crate::shares::Shares;

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("media.url: {0}")]
    Config(String),
    #[error("media store: {0}")]
    Store(#[from] object_store::Error),
    /// The tenant runs as many uploads as it may.
    #[error("the tenant already runs {0} uploads")]
    UploadsBusy(usize),
}

pub struct Media {
    store: Arc<dyn ObjectStore>,
    config: MediaConfig,
    /// Uploads running per tenant: each buffers up to a part in memory. A full share
    /// refuses at once (429) rather than holding a client's body unread.
    uploads: Shares,
}

impl Media {
    /// Opens the configured store (creating the default directory).
    pub fn open(config: &MediaConfig, layout: &DataLayout) -> Result<Media, MediaError> {
        let location = config
            .location()
            .map_err(|e| MediaError::Config(e.into()))?;
        let store: Arc<dyn ObjectStore> = match location {
            MediaLocation::DataDir => local(&layout.media_root())?,
            MediaLocation::Directory(dir) => local(dir)?,
            MediaLocation::S3 { bucket, prefix } => s3(bucket, prefix, config)?,
        };
        Ok(Media {
            store,
            config: config.clone(),
            uploads: Shares::new(std::time::Duration::ZERO),
        })
    }

    pub fn max_object_bytes(&self) -> u64 {
        self.config.max_object_bytes
    }

    /// The object holding `name` of this incarnation of the tenant.
    fn key(slug: &Slug, id: Uuid, name: &MediaName) -> Path {
        Self::area(slug, id).join(name.as_str())
    }

    fn area(slug: &Slug, id: Uuid) -> Path {
        Path::from(slug.media_area(id))
    }

    /// Up to `limit` objects of the tenant after `after`, by name.
    pub async fn list(
        &self,
        slug: &Slug,
        id: Uuid,
        after: Option<&MediaName>,
        limit: usize,
    ) -> Result<Vec<MediaObject>, MediaError> {
        let area = Self::area(slug, id);
        let mut listing = match after {
            Some(after) => self
                .store
                .list_with_offset(Some(&area), &Self::key(slug, id, after)),
            None => self.store.list(Some(&area)),
        };
        // Stores list in no promised order: keep the `limit` smallest names seen.
        let mut smallest = BinaryHeap::new();
        while let Some(meta) = listing.try_next().await? {
            let Some(object) = described(&area, meta) else {
                continue;
            };
            if after.is_some_and(|after| object.name.as_str() <= after.as_str()) {
                continue;
            }
            smallest.push(ByName(object));
            if smallest.len() > limit {
                smallest.pop();
            }
        }
        Ok(smallest
            .into_sorted_vec()
            .into_iter()
            .map(|o| o.0)
            .collect())
    }

    /// The object's description, if it exists.
    pub async fn head(
        &self,
        slug: &Slug,
        id: Uuid,
        name: &MediaName,
    ) -> Result<Option<MediaObject>, MediaError> {
        let area = Self::area(slug, id);
        match self.store.head(&Self::key(slug, id, name)).await {
            Ok(meta) => Ok(described(&area, meta)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The object's content, if it exists.
    pub async fn get(
        &self,
        slug: &Slug,
        id: Uuid,
        name: &MediaName,
    ) -> Result<Option<GetResult>, MediaError> {
        match self.store.get(&Self::key(slug, id, name)).await {
            Ok(found) => Ok(Some(found)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes one object; whether it existed.
    pub async fn delete(
        &self,
        slug: &Slug,
        id: Uuid,
        name: &MediaName,
    ) -> Result<bool, MediaError> {
        let existed = self.head(slug, id, name).await?.is_some();
        match self.store.delete(&Self::key(slug, id, name)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(existed),
            Err(e) => Err(e.into()),
        }
    }

    /// Bytes the tenant's media take.
    pub async fn usage(&self, slug: &Slug, id: Uuid) -> Result<u64, MediaError> {
        let area = Self::area(slug, id);
        self.store
            .list(Some(&area))
            .try_fold(0u64, |sum, meta| async move { Ok(sum + meta.size) })
            .await
            .map_err(MediaError::from)
    }

    /// Removes the media of every incarnation of the slug; how many objects there were.
    pub async fn purge(&self, slug: &Slug) -> Result<u64, MediaError> {
        self.remove_where(slug, |_| true).await
    }

    /// Removes what earlier incarnations of the slug left (uploads that landed after their
    /// purge); how many objects there were.
    pub async fn sweep_earlier(&self, slug: &Slug, current: Uuid) -> Result<u64, MediaError> {
        let keep = Self::area(slug, current);
        self.remove_where(slug, move |key| !key.prefix_matches(&keep))
            .await
    }

    async fn remove_where(
        &self,
        slug: &Slug,
        doomed: impl Fn(&Path) -> bool,
    ) -> Result<u64, MediaError> {
        let prefix = Path::from(slug.media_prefix());
        let keys: Vec<Path> = self
            .store
            .list(Some(&prefix))
            .map_ok(|meta| meta.location)
            .try_filter(|key| std::future::ready(doomed(key)))
            .try_collect()
            .await?;
        let count = keys.len() as u64;
        let doomed = futures_util::stream::iter(keys.into_iter().map(Ok)).boxed();
        self.store
            .delete_stream(doomed)
            .try_for_each(|_| std::future::ready(Ok(())))
            .await
            .or_else(|e| match e {
                object_store::Error::NotFound { .. } => Ok(()),
                e => Err(e),
            })?;
        Ok(count)
    }

    /// Whether anything of the slug is left in the store.
    pub async fn residue(&self, slug: &Slug) -> Result<bool, MediaError> {
        let prefix = Path::from(slug.media_prefix());
        Ok(self.store.list(Some(&prefix)).try_next().await?.is_some())
    }
}

/// A directory of objects; emptied directories are removed, so a purged tenant leaves none.
fn local(dir: &std::path::Path) -> Result<Arc<dyn ObjectStore>, MediaError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| MediaError::Config(format!("cannot create {}: {e}", dir.display())))?;
    let store = LocalFileSystem::new_with_prefix(dir)?.with_automatic_cleanup(true);
    Ok(Arc::new(store))
}

/// An S3-compatible bucket, optionally under a prefix: `s3://bucket/prefix`.
fn s3(
    bucket: &str,
    prefix: &str,
    config: &MediaConfig,
) -> Result<Arc<dyn ObjectStore>, MediaError> {
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    let settings = config
        .s3_settings()
        .map_err(|key| MediaError::Config(format!("{key} is not an S3 setting")))?;
    for (key, value) in settings {
        builder = builder.with_config(key, value.expose());
    }
    let store = builder.build()?;
    Ok(if prefix.is_empty() {
        Arc::new(store)
    } else {
        Arc::new(PrefixStore::new(store, prefix))
    })
}

/// An object of the tenant's area as the API shows it; `None` for anything that is not
/// directly in it (nothing the API writes).
fn described(area: &Path, meta: ObjectMeta) -> Option<MediaObject> {
    let mut parts = meta.location.prefix_match(area)?;
    let name = parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    Some(MediaObject {
        name: name.as_ref().to_owned(),
        size: meta.size,
        etag: meta.e_tag,
        modified: meta.last_modified,
    })
}

/// Orders objects by name, for keeping the smallest in a max-heap.
struct ByName(MediaObject);

impl PartialEq for ByName {
    fn eq(&self, other: &Self) -> bool {
        self.0.name == other.0.name
    }
}
impl Eq for ByName {}
impl PartialOrd for ByName {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for ByName {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.name.cmp(&other.0.name)
    }
}
