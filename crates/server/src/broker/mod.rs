//! Credential sources: where tenant pools get the logins they connect with. Each is one
//! implementation of [`CredentialSource`], chosen once at start by [`connect`]:
//!
//! - [`fixed::StaticCredentials`] hands out the instance's configured credentials (the
//!   embedded backend needs none; `allow_shared_credentials: true` on PostgreSQL).
//! - [`OpenBaoBroker`] leases short-lived logins from OpenBAO's database secrets engine:
//!   one per database tenant, and one per instance for the schema tenants' shared pool.
//!
//! The source is a sibling of storage in [`crate::core::Core`]; storage holds the same
//! source for the connections it opens.

pub mod fixed;
pub mod openbao;

use std::sync::Arc;

use crate::config::Config;
pub use crate::store::credentials::{
    CredentialError, CredentialSource, CredentialStats, Credentials, TenantRoles,
};

pub use fixed::StaticCredentials;
pub use openbao::OpenBaoBroker;

/// The source the configuration asks for: OpenBAO when `vault` is set, else static.
pub async fn connect(config: &Config) -> Result<Arc<dyn CredentialSource>, CredentialError> {
    Ok(match &config.vault {
        Some(vault) => Arc::new(OpenBaoBroker::connect(vault).await?),
        None => Arc::new(StaticCredentials),
    })
}
