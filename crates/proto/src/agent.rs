//! What agents send and receive: enrollment with a tenant's enrollment token, then
//! check-ins with the host credential the enrollment returned.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What an agent reports about its machine.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HostFacts {
    pub hostname: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fqdn: Option<String>,
    /// `NAME` from /etc/os-release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_name: Option<String>,
    /// `VERSION_ID` from /etc/os-release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// A stable id of the machine (e.g. /etc/machine-id): enrolling the same machine again
    /// finds the same host.
    pub machine_id: String,
    pub facts: HostFacts,
    /// How often the agent will check in (seconds); the host counts as offline after
    /// missing a few. Default 60.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkin_interval_secs: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EnrollResponse {
    pub host_id: Uuid,
    pub tenant: String,
    /// The host credential (`tnth_…`): keep it secret, send it as a bearer token.
    pub credential: String,
    /// Whether this machine was enrolled before (same host; no token use burned).
    pub reenrolled: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckinRequest {
    /// Fresh facts, when they changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<HostFacts>,
    /// What the agent did with the desired state it last received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual: Option<crate::ActualState>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CheckinResponse {
    pub host_id: Uuid,
    pub tenant: String,
    /// When to check in next (seconds).
    pub next_checkin_secs: u64,
    /// A renewed host credential, when the current one nears its expiry: replace it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
    /// A desired state the host has not applied yet: apply it and report back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired: Option<crate::DesiredState>,
}
