//! A tenant's media: files (boot images, kernels, anything its hosts need) kept in the media
//! store every replica shares.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One stored file, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MediaObject {
    /// 1 to 128 characters: letters, digits, `.`, `_` and `-`, starting with a letter or
    /// digit.
    pub name: String,
    pub size: u64,
    /// Changes whenever the content is replaced.
    pub etag: Option<String>,
    pub modified: DateTime<Utc>,
}
