//! API types shared by the Tenantry server, its HTTP client, the CLI and the tests.
//!
//! Everything that crosses the wire is defined here once, so the server and its clients
//! cannot drift apart.

mod agent;
mod boot;
pub mod codes;
mod enrollment;
mod hosts;
mod keys;
mod media;
mod migrations;
mod plans;
mod problem;
mod tenants;

pub use agent::{CheckinRequest, CheckinResponse, EnrollRequest, EnrollResponse, HostFacts};
pub use boot::{
    ActualState, ApplyStatus, BootSet, Component, CreateSession, DesiredState, NewSessionTemplate,
    Operation, Options, PutSessionTemplate, Session, SessionProgress, SessionStatus,
    SessionTemplate, UpdateComponent, UpdateOptions,
};
pub use enrollment::{CreateEnrollmentToken, EnrollmentToken, IssuedEnrollmentToken};
pub use hosts::{CreateHost, Host, HostStatus, UpdateHost};
pub use keys::{AddKey, AdminTokenRequest, IssuedToken, TrustedKey};
pub use media::MediaObject;
pub use migrations::{ChainStatus, PendingMigration};
pub use plans::{Plan, PlanSource, PutPlan};
pub use problem::Problem;
pub use tenants::{
    AuditEvent, CreateDomain, CreateTenant, Domain, Instance, Isolation, ParseEnumError, Placement,
    PlacementRequest, PurgeReport, ReconcileReport, Tenant, TenantLimits, TenantStatus,
    UpdateTenant,
};

use serde::{Deserialize, Serialize};

/// One page of a cursor-paginated listing.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Liveness and readiness answers.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`, or `unavailable` with the failing checks.
    pub status: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<String>,
    /// Degraded but serving (e.g. Redis down: rate limits not enforced).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}
