use std::sync::Arc;

use crate::core::Core;
use crate::identity::PrivateKey;
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
    /// The server's own signing key.
    pub signer: Arc<PrivateKey>,
}

impl AppState {
    pub fn new(
        signer: Arc<PrivateKey>,
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
            signer,
        }
    }

    pub fn multitenancy(&self) -> bool {
        self.core.config.multitenancy.enabled
    }
}
