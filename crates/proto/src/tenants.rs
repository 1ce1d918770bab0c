use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Where a tenant is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TenantStatus {
    /// Storage is being created; not yet routable.
    Provisioning,
    Active,
    /// Kept, but every tenant-scoped request is refused.
    Suspended,
    /// Being purged; the slug stays reserved until the purge is verified.
    Deleting,
}

/// How a tenant's data is separated from other tenants'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Isolation {
    /// Its own SQLite file (the embedded default).
    File,
    /// Its own PostgreSQL database.
    Database,
    /// Its own schema in a per-instance pool database.
    Schema,
    /// Multi-tenancy is off: the built-in tenant lives in the registry database.
    Collapsed,
}

/// The error of parsing one of this crate's enums from its wire name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseEnumError {
    pub what: &'static str,
    pub value: String,
}

impl fmt::Display for ParseEnumError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {} `{}`", self.what, self.value)
    }
}

impl std::error::Error for ParseEnumError {}

/// Wire names in one table per enum: `as_str`, `FromStr` and `TryFrom<String>` (for sqlx).
macro_rules! wire_enum {
    ($ty:ident, $what:literal, { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in the order of the table.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $name),+ }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = ParseEnumError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($name => Ok($ty::$variant),)+
                    other => Err(ParseEnumError { what: $what, value: other.to_owned() }),
                }
            }
        }

        impl TryFrom<String> for $ty {
            type Error = ParseEnumError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }
    };
}

wire_enum!(TenantStatus, "tenant status", {
    Provisioning => "provisioning",
    Active => "active",
    Suspended => "suspended",
    Deleting => "deleting",
});

wire_enum!(Isolation, "isolation mode", {
    File => "file",
    Database => "database",
    Schema => "schema",
    Collapsed => "collapsed",
});

/// Where one tenant lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Placement {
    /// The instance holding the tenant (`embedded` for the SQLite default).
    pub instance: String,
    pub isolation: Isolation,
    /// The physical name derived from the slug (database, schema or file stem).
    pub physical_name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Tenant {
    pub id: Uuid,
    pub slug: String,
    pub display_name: String,
    pub status: TenantStatus,
    pub isolation: Isolation,
    pub placement: Placement,
    /// The named plan it is on (`plans.<name>` in the server's configuration); absent
    /// means the plan called `default`, if there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// Its own limits, which override its plan's field by field; empty when none are set.
    #[schema(value_type = Object)]
    pub limits: serde_json::Value,
    /// What is enforced: its plan's limits with its own over them. An absent field is
    /// unlimited.
    #[serde(default)]
    pub effective_limits: TenantLimits,
    /// The tenant chain version its database is at, as recorded in the registry.
    pub tenant_chain_version: Option<i64>,
    /// Whether this is the built-in `default` tenant, which cannot be deleted.
    pub builtin: bool,
    /// While provisioning or deleting: the last lifecycle step finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle_step: Option<String>,
    /// How many hosts its database holds; only with `?count_hosts=true`, and absent when
    /// its database could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts: Option<u64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    /// 2–40 characters: lowercase letters, digits, single hyphens; starts with a letter.
    pub slug: String,
    /// Defaults to the slug.
    #[serde(default)]
    pub display_name: Option<String>,
    /// `file` (embedded), `database` or `schema` (PostgreSQL); default from `isolation.default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<Isolation>,
    /// Place the tenant on this instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Or: place it on the least loaded instance matching these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<PlacementRequest>,
    /// A plan configured on the server (`plans.<name>`); default: the plan `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
}

/// Constraints on where a new tenant may live.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlacementRequest {
    #[serde(default)]
    pub region: Option<String>,
    /// Every one of these labels must be on the instance (e.g. `jurisdiction: eu`).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// A database server that can hold tenants.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Instance {
    pub name: String,
    pub region: String,
    pub labels: BTreeMap<String, String>,
    pub max_tenants: Option<u64>,
    /// Tenants placed there now.
    pub tenants: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTenant {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `active` or `suspended`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<TenantStatus>,
    /// Replaces the tenant's limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<TenantLimits>,
    /// Moves the tenant to this plan (`plans.<name>`); every server enforces it within a
    /// notification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
}

/// Per-tenant limits; an absent field means unlimited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantLimits {
    /// Enrolling beyond this many hosts answers 429 `host_limit_reached`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_hosts: Option<u64>,
    /// Tenant API requests a second, on average; beyond it 429 `rate_limited`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_second: Option<u32>,
    /// Requests that may arrive at once on top of the rate (default: one second's worth).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
    /// Agent check-ins a second: a budget of their own, so a busy UI cannot lock agents out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkins_per_second: Option<u32>,
    /// Check-ins that may arrive at once (default: one second's worth).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkin_burst: Option<u32>,
    /// How many of its requests may hold its storage at once (default: the server's
    /// `pools.per_tenant`); in schema mode, its share of the instance's shared pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<u32>,
    /// The longest one of its SQL statements may run, in milliseconds (PostgreSQL); a
    /// statement cut off answers 503 `statement_timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement_timeout_ms: Option<u32>,
    /// Storage it may use, in bytes; at or over it, its writes answer 507
    /// `storage_quota_exceeded` (measured at most every 10 s while it writes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_bytes: Option<u64>,
}

/// What `POST /api/v1/reconcile` finished.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReconcileReport {
    /// Tenants whose interrupted creation was finished (now active).
    pub provisioned: Vec<String>,
    /// Tenants whose interrupted deletion was finished (purged and verified).
    pub purged: Vec<String>,
    /// Tenants that could not be finished yet (the reason is in the server's log).
    pub failed: Vec<String>,
}

/// What a verified purge removed.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PurgeReport {
    pub slug: String,
    pub storage_removed: bool,
    pub media_removed: bool,
    pub domains_removed: u64,
    /// Keys of the tenant removed from Redis (`t:<slug>:*`; 0 without `cache.url`).
    #[serde(default)]
    pub cache_keys_removed: u64,
    /// True once every check that nothing of the tenant is left has passed.
    pub verified: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Domain {
    pub domain: String,
    pub tenant: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDomain {
    pub domain: String,
}

/// One entry of the registry's audit log.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEvent {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    /// Who acted, e.g. `operator:3f9a1c2e`.
    pub actor: String,
    /// What happened, e.g. `tenant.create`, `tenant.masquerade`.
    pub action: String,
    pub tenant: Option<String>,
    pub request_id: Option<String>,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}
