use std::sync::Arc;

use crate::core::Core;
use crate::pools::TenantPools;
use crate::provisioner::Provisioner;
use crate::routing::Routing;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub core: Arc<Core>,
    pub routing: Arc<Routing>,
    pub pools: Arc<TenantPools>,
    pub provisioner: Arc<Provisioner>,
}

impl AppState {
    pub fn new(
        core: Arc<Core>,
        routing: Arc<Routing>,
        pools: Arc<TenantPools>,
        provisioner: Arc<Provisioner>,
    ) -> Self {
        AppState {
            core,
            routing,
            pools,
            provisioner,
        }
    }

    pub fn multitenancy(&self) -> bool {
        self.core.config.multitenancy.enabled
    }
}
