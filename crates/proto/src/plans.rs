//! Named plans: limits a tenant gets unless its own override them.

use serde::{Deserialize, Serialize};

use crate::TenantLimits;

/// Where a plan is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PlanSource {
    /// `plans.<name>` in the configuration: changed there, not through the API.
    Config,
    /// Created through the API, kept in the registry.
    Api,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Plan {
    /// 1 to 40 characters of a-z, 0-9 and -; `default` is the plan of tenants that name none.
    pub name: String,
    pub limits: TenantLimits,
    pub source: PlanSource,
    /// Tenants that name this plan.
    pub tenants: u64,
}

/// `PUT /api/v1/plans/{name}`: the plan's limits, replacing what it had.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutPlan {
    pub limits: TenantLimits,
}
