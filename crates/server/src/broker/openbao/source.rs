//! OpenBAO as a [`CredentialSource`].

use std::time::Duration;

use futures_util::future::BoxFuture;

use super::OpenBaoBroker;
use crate::store::TenantLocation;
use crate::store::credentials::{
    CredentialSource, CredentialStats, Credentials, InstanceLogin, Op, TenantRoles,
};

impl CredentialSource for OpenBaoBroker {
    fn name(&self) -> &'static str {
        "openbao"
    }

    fn tenant_roles(&self) -> TenantRoles {
        TenantRoles::Own
    }

    fn credentials<'a>(&'a self, loc: &'a TenantLocation) -> Op<'a, Credentials> {
        Box::pin(OpenBaoBroker::credentials(self, loc))
    }

    fn schema_login_credentials<'a>(&'a self, instance: &'a str) -> Op<'a, Credentials> {
        Box::pin(OpenBaoBroker::schema_login_credentials(self, instance))
    }

    fn invalidate(&self, loc: &TenantLocation) {
        OpenBaoBroker::invalidate(self, loc);
    }

    fn invalidate_schema_login(&self, instance: &str) {
        OpenBaoBroker::invalidate_schema_login(self, instance);
    }

    fn epoch(&self) -> u64 {
        OpenBaoBroker::epoch(self)
    }

    fn connection_lifetime(&self) -> Option<Duration> {
        Some(OpenBaoBroker::connection_lifetime(self))
    }

    fn provision<'a>(&'a self, loc: &'a TenantLocation) -> Op<'a, ()> {
        Box::pin(OpenBaoBroker::provision(self, loc))
    }

    fn revoke<'a>(&'a self, loc: &'a TenantLocation) -> Op<'a, ()> {
        Box::pin(OpenBaoBroker::revoke(self, loc))
    }

    fn residue<'a>(&'a self, loc: &'a TenantLocation) -> Op<'a, Option<&'static str>> {
        Box::pin(OpenBaoBroker::residue(self, loc))
    }

    fn instance_login<'a>(&'a self, instance: &'a str) -> Op<'a, Option<InstanceLogin>> {
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
