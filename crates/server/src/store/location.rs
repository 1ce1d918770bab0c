//! Where a tenant's data lives, as far as opening it is concerned.

use tenantry_proto::Isolation;

use crate::names::Slug;

/// A tenant's slug (from which every physical name derives), its isolation mode and the
/// instance it was placed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantLocation {
    pub slug: Slug,
    pub isolation: Isolation,
    pub instance: String,
}
