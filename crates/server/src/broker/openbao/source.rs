//! OpenBAO as a [`CredentialSource`].

use std::time::Duration;

use futures_util::future::BoxFuture;

use super::OpenBaoBroker;
use crate::store::TenantLocation;
use crate::store::credentials::{
    CredentialError, CredentialSource, CredentialStats, Credentials, InstanceLogin, TenantRoles,
};

impl CredentialSource for OpenBaoBroker {
    fn name(&self) -> &'static str {
        "openbao"
    }

    fn tenant_roles(&self) -> TenantRoles {
        TenantRoles::Own
    }

    fn credentials<'a>(
        &'a self,
        loc: &'a TenantLocation,
    ) -> BoxFuture<'a, Result<Credentials, CredentialError>> {
        Box::pin(OpenBaoBroker::credentials(self, loc))
    }

    fn router_credentials<'a>(
        &'a self,
        instance: &'a str,
    ) -> BoxFuture<'a, Result<Credentials, CredentialError>> {
        Box::pin(OpenBaoBroker::router_credentials(self, instance))
    }

    fn invalidate(&self, loc: &TenantLocation) {
        OpenBaoBroker::invalidate(self, loc);
    }

    fn invalidate_router(&self, instance: &str) {
        OpenBaoBroker::invalidate_router(self, instance);
    }

    fn epoch(&self) -> u64 {
        OpenBaoBroker::epoch(self)
    }

    fn connection_lifetime(&self) -> Option<Duration> {
        Some(OpenBaoBroker::connection_lifetime(self))
    }

    fn provision<'a>(
        &'a self,
        loc: &'a TenantLocation,
    ) -> BoxFuture<'a, Result<(), CredentialError>> {
        Box::pin(OpenBaoBroker::provision(self, loc))
    }

    fn revoke<'a>(&'a self, loc: &'a TenantLocation) -> BoxFuture<'a, Result<(), CredentialError>> {
        Box::pin(OpenBaoBroker::revoke(self, loc))
    }

    fn residue<'a>(
        &'a self,
        loc: &'a TenantLocation,
    ) -> BoxFuture<'a, Result<Option<&'static str>, CredentialError>> {
        Box::pin(OpenBaoBroker::residue(self, loc))
    }

    fn instance_login<'a>(
        &'a self,
        instance: &'a str,
    ) -> BoxFuture<'a, Result<Option<InstanceLogin>, CredentialError>> {
        Box::pin(OpenBaoBroker::instance_login(self, instance))
    }

    fn problem(&self) -> BoxFuture<'_, Option<String>> {
        Box::pin(OpenBaoBroker::problem(self))
    }

    fn stats(&self) -> Option<CredentialStats> {
        Some(OpenBaoBroker::stats(self))
    }

    fn spawn_upkeep(&self) -> Option<tokio::task::JoinHandle<()>> {
        Some(self.spawn_renewal())
    }
}
