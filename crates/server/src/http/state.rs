use std::sync::Arc;

use crate::limits::{Limiter, Quotas, Shared};
use uuid::Uuid;

use super::detach::InFlight;
use crate::catalog::{CatalogError, NewAuditEvent};
use crate::core::Core;
use crate::identity::{PrivateKey, VerifiedTokens};
use crate::pools::TenantPools;
use crate::provisioner::Actor;
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
    /// Token signatures already checked.
    pub tokens: Arc<VerifiedTokens>,
    /// Requests being handled, whether or not their clients still wait.
    pub in_flight: Arc<InFlight>,
    /// Tenants' request and check-in budgets.
    pub limiter: Arc<Limiter>,
    /// Tenants' storage quotas.
    pub quotas: Arc<Quotas>,
}

impl AppState {
    pub fn new(
        signer: Arc<PrivateKey>,
        core: Arc<Core>,
        routing: Arc<Routing>,
        pools: Arc<TenantPools>,
        provisioner: Arc<Provisioner>,
    ) -> Self {
        let limiter = Arc::new(match &core.cache {
            Some(cache) => Limiter::Shared(Shared::new(Arc::clone(cache))),
            None => Limiter::default(),
        });
        let quotas = Arc::new(Quotas::new(
            Arc::clone(&core.storage),
            Arc::clone(&core.media),
        ));
        AppState {
            core,
            routing,
            pools,
            provisioner,
            signer,
            tokens: Arc::new(VerifiedTokens::default()),
            in_flight: Arc::new(InFlight::default()),
            limiter,
            quotas,
        }
    }

    /// Appends an audit event by `actor`, about a tenant (slug and id) if there is one.
    pub async fn audit(
        &self,
        actor: &Actor,
        action: &str,
        tenant: Option<(&str, Uuid)>,
        detail: serde_json::Value,
    ) -> Result<(), CatalogError> {
        self.core
            .catalog
            .audit(NewAuditEvent {
                actor: &actor.name,
                action,
                tenant_slug: tenant.map(|(slug, _)| slug),
                tenant_id: tenant.map(|(_, id)| id),
                request_id: actor.request_id.as_deref(),
                detail,
            })
            .await
    }

    pub fn multitenancy(&self) -> bool {
        self.core.config.multitenancy.enabled
    }
}
