//! Static credentials: every tenant on an instance connects with the instance's own
//! configured login, which never changes while the server runs.

use std::time::Duration;

use futures_util::future::{BoxFuture, FutureExt, ready};

use super::{CredentialSource, CredentialStats, Credentials, TenantRoles};
use crate::store::TenantLocation;
use crate::store::credentials::InstanceLogin;
use crate::store::credentials::Op;

#[derive(Debug, Clone, Copy, Default)]
pub struct StaticCredentials;

fn instance_own<'a, T: Default + Send + 'a>() -> Op<'a, T> {
    ready(Ok(T::default())).boxed()
}

impl CredentialSource for StaticCredentials {
    fn name(&self) -> &'static str {
        "static"
    }

    fn tenant_roles(&self) -> TenantRoles {
        TenantRoles::Shared
    }

    fn credentials<'a>(&'a self, _loc: &'a TenantLocation) -> Op<'a, Credentials> {
        instance_own()
    }

    fn schema_login_credentials<'a>(&'a self, _instance: &'a str) -> Op<'a, Credentials> {
        instance_own()
    }

    fn invalidate(&self, _loc: &TenantLocation) {}

    fn invalidate_schema_login(&self, _instance: &str) {}

    fn epoch(&self) -> u64 {
        0
    }

    fn connection_lifetime(&self) -> Option<Duration> {
        None
    }

    fn provision<'a>(&'a self, _loc: &'a TenantLocation) -> Op<'a, ()> {
        instance_own()
    }

    fn revoke<'a>(&'a self, _loc: &'a TenantLocation) -> Op<'a, ()> {
        instance_own()
    }

    fn residue<'a>(&'a self, _loc: &'a TenantLocation) -> Op<'a, Option<&'static str>> {
        instance_own()
    }

    fn instance_login<'a>(&'a self, _instance: &'a str) -> Op<'a, Option<InstanceLogin>> {
        instance_own()
    }

    fn problem(&self) -> BoxFuture<'_, Option<String>> {
        ready(None).boxed()
    }

    fn stats(&self) -> Option<CredentialStats> {
        None
    }

    fn spawn_upkeep(&self) -> Option<tokio::task::JoinHandle<()>> {
        None
    }
}
