//! The credential broker: where tenant pools get the credentials they connect with.
//!
//! `Static` hands out the instance's configured credentials (the embedded backend needs
//! none). OpenBAO's short-lived, per-tenant leases join as a second variant; everything
//! that opens a tenant database already asks the broker, and the purge already revokes.

use crate::config::Secret;
use crate::routing::TenantLocation;

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
}

#[derive(Debug)]
pub enum CredentialBroker {
    /// The instance's own configured credentials, shared by every tenant on it.
    Static(StaticBroker),
}

impl CredentialBroker {
    pub fn name(&self) -> &'static str {
        match self {
            CredentialBroker::Static(_) => "static",
        }
    }

    /// Credentials for connecting to one tenant's storage.
    pub async fn credentials(&self, loc: &TenantLocation) -> Result<Credentials, BrokerError> {
        match self {
            CredentialBroker::Static(b) => Ok(b.credentials(loc)),
        }
    }

    /// Revokes everything issued for a tenant (part of the purge). Idempotent.
    pub async fn revoke(&self, loc: &TenantLocation) -> Result<(), BrokerError> {
        match self {
            CredentialBroker::Static(_) => {
                let _ = loc;
                Ok(())
            }
        }
    }

    /// For `/readyz`: `None` when healthy, else why not.
    pub async fn problem(&self) -> Option<String> {
        match self {
            CredentialBroker::Static(_) => None,
        }
    }
}

/// Per-instance credentials from the configuration.
#[derive(Debug, Default)]
pub struct StaticBroker {
    credentials: Credentials,
}

impl StaticBroker {
    /// The embedded backend: files need no credentials.
    pub fn embedded() -> Self {
        StaticBroker::default()
    }

    fn credentials(&self, _loc: &TenantLocation) -> Credentials {
        self.credentials.clone()
    }
}
