//! Per-tenant limits that stop noisy neighbours: request and check-in rates.
//!
//! A tenant's rates come from its `limits` (set through the API); a tenant without one is
//! not limited. Each rate is a GCRA (generic cell rate algorithm, the token bucket's
//! exact twin) over its own budget, so agents' check-ins and the UI's requests do not
//! compete.

mod quota;
mod rate;
mod shared;

use std::time::Duration;

use tenantry_proto::TenantLimits;
use uuid::Uuid;

use crate::names::Slug;

pub use quota::{OverQuota, Quotas};
pub use rate::InProcess;
pub use shared::Shared;

/// What is enforced: the tenant's own limits over its plan's, field by field.
pub fn effective(plan: Option<&TenantLimits>, own: &TenantLimits) -> TenantLimits {
    let plan = plan.cloned().unwrap_or_default();
    TenantLimits {
        max_hosts: own.max_hosts.or(plan.max_hosts),
        requests_per_second: own.requests_per_second.or(plan.requests_per_second),
        burst: own.burst.or(plan.burst),
        checkins_per_second: own.checkins_per_second.or(plan.checkins_per_second),
        checkin_burst: own.checkin_burst.or(plan.checkin_burst),
        max_connections: own.max_connections.or(plan.max_connections),
        statement_timeout_ms: own.statement_timeout_ms.or(plan.statement_timeout_ms),
        storage_bytes: own.storage_bytes.or(plan.storage_bytes),
    }
}

/// Which of a tenant's budgets a request spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Budget {
    /// Tenant API requests (users, tokens, the UI).
    Requests,
    /// Agent check-ins.
    Checkins,
}

impl Budget {
    pub fn as_str(self) -> &'static str {
        match self {
            Budget::Requests => "requests",
            Budget::Checkins => "checkins",
        }
    }
}

/// A sustained rate and how many may arrive at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    pub per_second: u32,
    pub burst: u32,
}

impl Rate {
    /// The rate `limits` set for `budget`, if any. A burst defaults to one second's worth.
    pub fn of(limits: &TenantLimits, budget: Budget) -> Option<Rate> {
        let (rate, burst) = match budget {
            Budget::Requests => (limits.requests_per_second, limits.burst),
            Budget::Checkins => (limits.checkins_per_second, limits.checkin_burst),
        };
        let per_second = rate.filter(|r| *r > 0)?;
        Some(Rate {
            per_second,
            burst: burst.unwrap_or(per_second).max(1),
        })
    }
}

/// A request the budget had no room for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub rate: Rate,
    /// When one request would be admitted again.
    pub retry_after: Duration,
    /// When the budget is full again.
    pub reset: Duration,
}

/// Where budgets are kept: in this process, or (with Redis) shared by every replica.
pub enum Limiter {
    InProcess(Box<InProcess>),
    Shared(Shared),
}

impl Default for Limiter {
    fn default() -> Self {
        Limiter::InProcess(Box::default())
    }
}

impl Limiter {
    /// Spends one request of `tenant`'s `budget`, if `limits` set a rate for it; otherwise
    /// says when to come back.
    pub async fn admit(
        &self,
        tenant: Uuid,
        slug: &Slug,
        limits: &TenantLimits,
        budget: Budget,
    ) -> Result<(), Refusal> {
        let Some(rate) = Rate::of(limits, budget) else {
            return Ok(());
        };
        match self {
            Limiter::InProcess(limiter) => limiter.admit(tenant, budget, rate),
            // By slug: a purge removes the tenant's keys, and a new tenant of that slug
            // starts with a full budget.
            Limiter::Shared(limiter) => limiter.admit(tenant, slug, budget, rate).await,
        }
    }
}
