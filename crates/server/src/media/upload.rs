//! One upload: the request body streamed into the store with at most a part of it in
//! memory, and published only when the body ended whole. A body that fails, stalls or grows
//! past its limit aborts the upload: nothing is stored, and an object it was to replace
//! stays as it was.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use futures_util::{Stream, StreamExt};
use object_store::buffered::BufWriter;
use tenantry_proto::MediaObject;
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use super::{Media, MediaError, MediaName};
use crate::names::Slug;

/// What one upload buffers before it writes a part (S3's smallest part).
const PART: usize = 5 << 20;
/// Parts of one upload in flight at once.
const PARTS_IN_FLIGHT: usize = 2;

/// How much one upload may store, and why.
#[derive(Debug, Clone, Copy)]
pub enum UploadLimit {
    /// `media.max_object_bytes`.
    Object(u64),
    /// What is left of the tenant's `storage_bytes` quota, below the object limit.
    Quota { left: u64, quota: u64 },
}

impl UploadLimit {
    pub fn bytes(self) -> u64 {
        match self {
            UploadLimit::Object(bytes) | UploadLimit::Quota { left: bytes, .. } => bytes,
        }
    }

    /// The refusal of a body larger than this limit.
    pub fn refusal(self) -> UploadError {
        match self {
            UploadLimit::Object(bytes) => UploadError::TooLarge(bytes),
            UploadLimit::Quota { quota, .. } => UploadError::OverQuota { quota },
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("the file is larger than {0} bytes, the most one upload may store")]
    TooLarge(u64),
    #[error("the file does not fit in what is left of the tenant's {quota}-byte storage quota")]
    OverQuota { quota: u64 },
    #[error("the upload's body failed: {0}")]
    Body(String),
    #[error("the upload sent nothing for {} s", .0.as_secs())]
    Stalled(Duration),
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error("media store: {0}")]
    Write(std::io::Error),
}

impl Media {
    /// Stores `body` as `name`, replacing what was there only once all of it arrived.
    pub async fn upload<E: std::fmt::Display>(
        &self,
        slug: &Slug,
        id: Uuid,
        name: &MediaName,
        body: impl Stream<Item = Result<Bytes, E>> + Unpin,
        limit: UploadLimit,
    ) -> Result<MediaObject, UploadError> {
        let most = self.config.uploads_per_tenant;
        let _slot = self
            .uploads
            .take(id, u32::try_from(most).unwrap_or(u32::MAX))
            .await
            .ok_or(MediaError::UploadsBusy(most))?;
        let mut writer =
            BufWriter::with_capacity(Arc::clone(&self.store), Media::key(slug, id, name), PART)
                .with_max_concurrency(PARTS_IN_FLIGHT);
        let idle = self.config.upload_idle_timeout.as_duration();
        if let Err(e) = feed(&mut writer, body, limit, idle).await {
            // A multipart upload left behind would hold storage nobody can see.
            if let Err(abort) = writer.abort().await {
                tracing::warn!(tenant = %slug, error = %abort, "could not abort an upload");
            }
            return Err(e);
        }
        writer.shutdown().await.map_err(UploadError::Write)?;
        self.head(slug, id, name)
            .await?
            .ok_or_else(|| UploadError::Write(std::io::ErrorKind::NotFound.into()))
    }
}

async fn feed<E: std::fmt::Display>(
    writer: &mut BufWriter,
    mut body: impl Stream<Item = Result<Bytes, E>> + Unpin,
    limit: UploadLimit,
    idle: Duration,
) -> Result<(), UploadError> {
    let mut stored: u64 = 0;
    loop {
        let chunk = match tokio::time::timeout(idle, body.next()).await {
            Err(_) => return Err(UploadError::Stalled(idle)),
            Ok(None) => return Ok(()),
            Ok(Some(Err(e))) => return Err(UploadError::Body(e.to_string())),
            Ok(Some(Ok(chunk))) => chunk,
        };
        stored += chunk.len() as u64;
        if stored > limit.bytes() {
            return Err(limit.refusal());
        }
        writer
            .put(chunk)
            .await
            .map_err(|e| UploadError::Media(e.into()))?;
    }
}
