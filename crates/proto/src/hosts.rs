use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A machine that belongs to one tenant; stored in that tenant's own database.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Host {
    pub id: Uuid,
    /// The slug of the tenant that owns the host.
    pub tenant: String,
    pub hostname: String,
    pub os: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// `online` while its agent checks in on time; `offline` after it missed a few
    /// check-ins (or never checked in).
    pub status: HostStatus,
    /// What the agent reported, for enrolled hosts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<crate::HostFacts>,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HostStatus {
    Online,
    Offline,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateHost {
    pub hostname: String,
    #[serde(default)]
    pub os: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateHost {
    /// Replaces the host's labels.
    pub labels: BTreeMap<String, String>,
}
