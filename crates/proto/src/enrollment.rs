use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An enrollment token as listed: never its secret.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EnrollmentToken {
    pub id: Uuid,
    pub tenant: String,
    /// Given to every host that enrolls with it.
    pub labels: BTreeMap<String, String>,
    /// Absent: unlimited.
    pub max_uses: Option<u64>,
    pub uses: u64,
    pub expires_at: DateTime<Utc>,
    pub revoked: bool,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEnrollmentToken {
    /// Lifetime like `1h` or `30d` (at most `365d`); default `24h`.
    #[serde(default)]
    pub ttl: Option<String>,
    /// How many hosts may enroll with it; default unlimited.
    #[serde(default)]
    pub max_uses: Option<u64>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// A new token: the only time its secret is ever shown.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IssuedEnrollmentToken {
    /// `tnte_…`: put it in the agent's `security.enrollment_token`.
    pub token: String,
    #[serde(flatten)]
    pub info: EnrollmentToken,
}
