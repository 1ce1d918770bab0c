//! The credential broker: where tenant pools get the credentials they connect with.
//!
//! `Static` hands out the instance's configured credentials (the embedded backend needs
//! none; `allow_shared_credentials: true` on PostgreSQL). `OpenBao` leases short-lived
//! logins from OpenBAO's database secrets engine (see [`openbao`]): one per database
//! tenant, and one per instance for the schema tenants' shared pool.

pub mod openbao;

use std::time::Duration;

use crate::config::Secret;
use crate::routing::TenantLocation;

pub use openbao::{BrokerStats, OpenBaoBroker};

/// What a tenant pool connects with.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    pub username: Option<String>,
    pub password: Option<Secret>,
}

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("the credential broker is unavailable: {0}")]
    Unavailable(String),
    #[error("the credential broker failed: {0}")]
    Failed(String),
}

#[derive(Debug)]
pub enum CredentialBroker {
    /// The instance's own configured credentials, shared by every tenant on it.
    Static,
    /// Per-tenant leases from OpenBAO.
    OpenBao(OpenBaoBroker),
}

impl CredentialBroker {
    pub fn name(&self) -> &'static str {
        match self {
            CredentialBroker::Static => "static",
            CredentialBroker::OpenBao(_) => "openbao",
        }
    }

    /// Whether each tenant has its own group role and logins on PostgreSQL.
    pub fn per_tenant_roles(&self) -> bool {
        matches!(self, CredentialBroker::OpenBao(_))
    }

    /// Credentials for connecting to one tenant's storage (`None` fields: the instance's).
    pub async fn credentials(&self, loc: &TenantLocation) -> Result<Credentials, BrokerError> {
        match self {
            CredentialBroker::Static => Ok(Credentials::default()),
            CredentialBroker::OpenBao(b) => b.credentials(loc).await,
        }
    }

    /// Credentials for an instance's schema pool, whose logins act as one schema tenant
    /// per checkout (`SET ROLE`).
    pub async fn router_credentials(&self, instance: &str) -> Result<Credentials, BrokerError> {
        match self {
            CredentialBroker::Static => Ok(Credentials::default()),
            CredentialBroker::OpenBao(b) => b.router_credentials(instance).await,
        }
    }

    /// The tenant's credentials were refused: forget them.
    pub fn invalidate(&self, loc: &TenantLocation) {
        if let CredentialBroker::OpenBao(b) = self {
            b.invalidate(loc);
        }
    }

    /// The schema pool's credentials were refused: forget them.
    pub fn invalidate_router(&self, instance: &str) {
        if let CredentialBroker::OpenBao(b) = self {
            b.invalidate_router(instance);
        }
    }

    /// Grows whenever any tenant's credentials change (always 0 for static ones). Pools
    /// compare it on each use, without a lock, and re-read their tenant's credentials
    /// only when it moved.
    pub fn epoch(&self) -> u64 {
        match self {
            CredentialBroker::Static => 0,
            CredentialBroker::OpenBao(b) => b.epoch(),
        }
    }

    /// Prepares issuing credentials for a new tenant (its OpenBAO role). Idempotent.
    pub async fn provision(&self, loc: &TenantLocation) -> Result<(), BrokerError> {
        match self {
            CredentialBroker::Static => Ok(()),
            CredentialBroker::OpenBao(b) => b.provision(loc).await,
        }
    }

    /// Revokes everything issued for a tenant (part of the purge). Idempotent.
    pub async fn revoke(&self, loc: &TenantLocation) -> Result<(), BrokerError> {
        match self {
            CredentialBroker::Static => Ok(()),
            CredentialBroker::OpenBao(b) => b.revoke(loc).await,
        }
    }

    /// What the broker still holds for a purged tenant (`None`: nothing).
    pub async fn residue(&self, loc: &TenantLocation) -> Result<Option<&'static str>, BrokerError> {
        match self {
            CredentialBroker::Static => Ok(None),
            CredentialBroker::OpenBao(b) => b.residue(loc).await,
        }
    }

    /// How long a pool connection may live (`None`: as long as the pool likes).
    pub fn connection_lifetime(&self) -> Option<Duration> {
        match self {
            CredentialBroker::Static => None,
            CredentialBroker::OpenBao(b) => Some(b.connection_lifetime()),
        }
    }

    /// For `/readyz`: `None` when healthy, else why not.
    pub async fn problem(&self) -> Option<String> {
        match self {
            CredentialBroker::Static => None,
            CredentialBroker::OpenBao(b) => b.problem().await,
        }
    }

    pub fn stats(&self) -> Option<BrokerStats> {
        match self {
            CredentialBroker::Static => None,
            CredentialBroker::OpenBao(b) => Some(b.stats()),
        }
    }
}
