//! Boot orchestration (API v2, BOS-style): session templates, sessions, components and the
//! service-wide options. Template and session names are unique within a tenant only.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::HostStatus;

/// One set of nodes booted the same way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BootSet {
    pub name: String,
    /// Hostnames of the tenant's hosts.
    #[serde(default)]
    pub node_list: Vec<String>,
    /// Hosts carrying all of these labels.
    #[serde(default)]
    pub node_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub kernel_parameters: String,
    pub image: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SessionTemplate {
    /// The tenant the template belongs to.
    pub tenant: String,
    pub name: String,
    pub description: String,
    pub boot_sets: Vec<BootSet>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /api/v2/sessiontemplates`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSessionTemplate {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub boot_sets: Vec<BootSet>,
}

/// `PUT /api/v2/sessiontemplates/{name}`: creates or replaces.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutSessionTemplate {
    #[serde(default)]
    pub description: String,
    pub boot_sets: Vec<BootSet>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    Boot,
    Reboot,
    Shutdown,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Boot => "boot",
            Operation::Reboot => "reboot",
            Operation::Shutdown => "shutdown",
        }
    }

    pub fn parse(s: &str) -> Option<Operation> {
        match s {
            "boot" => Some(Operation::Boot),
            "reboot" => Some(Operation::Reboot),
            "shutdown" => Some(Operation::Shutdown),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SessionStatus {
    /// Created; no target has reported yet.
    Pending,
    /// Some targets have reported.
    Running,
    /// Every target applied it.
    Complete,
    /// A target failed, or the session timed out.
    Failed,
    /// `stage: true`: desired states recorded for later; nothing is sent to agents.
    Staged,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Pending => "pending",
            SessionStatus::Running => "running",
            SessionStatus::Complete => "complete",
            SessionStatus::Failed => "failed",
            SessionStatus::Staged => "staged",
        }
    }

    pub fn parse(s: &str) -> Option<SessionStatus> {
        match s {
            "pending" => Some(SessionStatus::Pending),
            "running" => Some(SessionStatus::Running),
            "complete" => Some(SessionStatus::Complete),
            "failed" => Some(SessionStatus::Failed),
            "staged" => Some(SessionStatus::Staged),
            _ => None,
        }
    }
}

/// `POST /api/v2/sessions`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    pub template_name: String,
    pub operation: Operation,
    /// Comma-separated hostnames and/or `key=value` labels: targets must match one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
    #[serde(default)]
    pub stage: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SessionProgress {
    pub targets: u64,
    pub applied: u64,
    pub failed: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Session {
    pub id: Uuid,
    /// The tenant the session belongs to.
    pub tenant: String,
    pub template_name: String,
    pub operation: Operation,
    pub limit: Option<String>,
    pub stage: bool,
    pub status: SessionStatus,
    /// Host ids: the template's nodes ∩ the tenant's hosts ∩ `limit`.
    pub targets: Vec<Uuid>,
    pub progress: SessionProgress,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub timeout_at: DateTime<Utc>,
}

/// What a host should do, as its agent receives it at check-in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DesiredState {
    pub session_id: Uuid,
    pub operation: Operation,
    pub boot_set: String,
    pub image: String,
    #[serde(default)]
    pub kernel_parameters: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ApplyStatus {
    Applied,
    Failed,
}

/// What a host's agent reports having done.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActualState {
    pub session_id: Uuid,
    pub operation: Operation,
    pub status: ApplyStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A host seen as a boot component.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Component {
    /// The host id.
    pub id: Uuid,
    pub tenant: String,
    pub hostname: String,
    pub status: HostStatus,
    pub desired_state: Option<DesiredState>,
    pub actual_state: Option<ActualState>,
}

/// `PATCH /api/v2/components/{id}` (operators): set or clear (`null`) the desired state.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateComponent {
    pub desired_state: Option<DesiredState>,
}

/// Service-wide settings, in the shared partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Options {
    /// A session not complete after this long fails.
    pub default_session_timeout_secs: u64,
    /// Finished sessions older than this may be cleaned up.
    pub cleanup_age_secs: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            default_session_timeout_secs: 3600,
            cleanup_age_secs: 7 * 24 * 3600,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_session_timeout_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleanup_age_secs: Option<u64>,
}
