//! The credential seam: where tenant storage gets the logins it connects with. Each source
//! (static, OpenBAO) is one implementation in [`crate::broker`]; storage, pools and the
//! provisioner see only [`CredentialSource`].

use std::time::Duration;

use futures_util::future::BoxFuture;

use super::TenantLocation;
use crate::secret::Secret;

/// What a tenant pool connects with (`None` fields: the instance's own).
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    pub username: Option<String>,
    pub password: Option<Secret>,
}

/// An error a credential source passes on, its cause kept for logs.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The source cannot be reached now; a later attempt may work.
    #[error("the credential broker is unavailable: {0}")]
    Unavailable(Cause),
    /// The source answered and refused, or is misconfigured.
    #[error("the credential broker failed: {0}")]
    Failed(Cause),
}

/// Whether each tenant has a group role of its own on PostgreSQL, which owns its objects
/// and which its logins act as (decisions 0004 and 0008). Storage creates and drops those
/// roles; it never asks which source is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantRoles {
    /// Every tenant on an instance uses the instance's configured login.
    Shared,
    /// Every tenant has its group role `t_<slug>_rw`; logins join it.
    Own,
}

/// Counters for `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CredentialStats {
    pub calls: u64,
    pub leases: u64,
    pub renewals: u64,
    pub rotations: u64,
}

/// What the source's fallible calls return.
pub type Op<'a, T> = BoxFuture<'a, Result<T, CredentialError>>;

/// A provisioner login kept by the source for an instance: user name and password.
pub type InstanceLogin = (String, Secret);

/// Where tenant storage gets credentials from, and what it must do for a tenant's life.
///
/// Adding a source is one module in `broker/` implementing this trait, plus a line in
/// `broker::connect` (decision 0012).
pub trait CredentialSource: Send + Sync + std::fmt::Debug {
    /// The source's name in `/readyz` and logs.
    fn name(&self) -> &'static str;

    /// Whether tenants get their own database roles under this source.
    fn tenant_roles(&self) -> TenantRoles;

    /// Credentials for connecting to one tenant's storage.
    fn credentials<'a>(&'a self, loc: &'a TenantLocation) -> Op<'a, Credentials>;

    /// Credentials for an instance's shared schema pool, whose logins act as one schema
    /// tenant per checkout (`SET ROLE`).
    fn schema_login_credentials<'a>(&'a self, instance: &'a str) -> Op<'a, Credentials>;

    /// The tenant's credentials were refused: forget them.
    fn invalidate(&self, loc: &TenantLocation);

    /// The schema pool's credentials were refused: forget them.
    fn invalidate_schema_login(&self, instance: &str);

    /// Grows whenever any credentials change (always 0 for ones that never do). Pools
    /// compare it on each use, without a lock, and re-read credentials only when it moved.
    fn epoch(&self) -> u64;

    /// How long a pool connection may live (`None`: as long as the pool likes).
    fn connection_lifetime(&self) -> Option<Duration>;

    /// Prepares issuing credentials for a new tenant. Idempotent.
    fn provision<'a>(&'a self, loc: &'a TenantLocation) -> Op<'a, ()>;

    /// Revokes everything issued for a tenant (part of the purge). Idempotent.
    fn revoke<'a>(&'a self, loc: &'a TenantLocation) -> Op<'a, ()>;

    /// What the source still holds for a purged tenant (`None`: nothing).
    fn residue<'a>(&'a self, loc: &'a TenantLocation) -> Op<'a, Option<&'static str>>;

    /// The provisioner login the source keeps for an instance, if any.
    fn instance_login<'a>(&'a self, instance: &'a str) -> Op<'a, Option<InstanceLogin>>;

    /// For `/readyz`: `None` when healthy, else why not.
    fn problem(&self) -> BoxFuture<'_, Option<String>>;

    /// For `/metrics` (`None`: nothing to count).
    fn stats(&self) -> Option<CredentialStats>;

    /// Starts whatever keeps credentials alive (renewals) until the server stops.
    fn spawn_upkeep(&self) -> Option<tokio::task::JoinHandle<()>>;
}
