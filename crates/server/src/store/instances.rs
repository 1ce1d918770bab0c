//! The PostgreSQL instances tenants are placed on.

use std::collections::BTreeMap;

use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;

use super::PoolSettings;
use super::postgres;
use crate::names::SCHEMAS_DATABASE;
use crate::secret::Secret;

/// `application_name` of request-path sessions.
pub const APPLICATION: &str = "tenantry";
/// `application_name` of administrative sessions (DDL, templates).
pub const ADMIN_APPLICATION: &str = "tenantry-admin";

/// One database server that can hold tenants.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceConfig {
    /// An administrative connection (any database on the server; the provisioner creates
    /// `tenantry_template` and `tenantry_pool` beside it).
    pub url: Secret,
    #[serde(default)]
    pub region: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// No new tenants are placed here once it holds this many.
    #[serde(default)]
    pub max_tenants: Option<u64>,
}

/// Why an instance did not answer a probe.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The configuration cannot work (certificate, login, database): fix it, then start.
    #[error("{0}")]
    Refused(sqlx::Error),
    /// Down or unreachable: it may come back, so the server starts without it.
    #[error("{0}")]
    Unreachable(sqlx::Error),
    #[error("no answer within {0:?}")]
    TimedOut(std::time::Duration),
}

/// One configured database server.
#[derive(Debug)]
pub struct Instance {
    pub name: String,
    pub region: String,
    pub labels: BTreeMap<String, String>,
    pub max_tenants: Option<u64>,
    base: PgConnectOptions,
    /// Administrative connections (CREATE/DROP DATABASE), separate from tenant pools.
    admin: PgPool,
    /// Administrative connections to `tenantry_pool` (CREATE/DROP SCHEMA).
    schemas_admin: PgPool,
}

impl Instance {
    /// Connects lazily: an instance that is down does not stop the server from starting.
    ///
    /// `login` replaces the URL's user and password (the provisioner's login from OpenBAO).
    pub fn new(
        name: &str,
        config: &InstanceConfig,
        settings: PoolSettings,
        login: Option<(String, Secret)>,
    ) -> Result<Instance, sqlx::Error> {
        let mut base = postgres::options(config.url.expose())?;
        if let Some((user, password)) = login {
            base = base.username(&user).password(password.expose());
        }
        let admin_settings = PoolSettings {
            max_connections: 4,
            ..settings
        };
        let admin_base = base.clone().application_name(ADMIN_APPLICATION);
        let admin = postgres::pool_options(admin_settings).connect_lazy_with(admin_base.clone());
        let schemas_admin = postgres::pool_options(admin_settings)
            .connect_lazy_with(admin_base.database(SCHEMAS_DATABASE));
        Ok(Instance {
            name: name.to_owned(),
            region: config.region.clone(),
            labels: config.labels.clone(),
            max_tenants: config.max_tenants,
            base,
            admin,
            schemas_admin,
        })
    }

    /// Connection options for one database on this server.
    pub fn database(&self, name: &str) -> PgConnectOptions {
        self.base
            .clone()
            .database(name)
            .application_name(APPLICATION)
    }

    /// Administrative connection options for one database on this server (DDL, templates).
    pub fn admin_options(&self, name: &str) -> PgConnectOptions {
        self.base
            .clone()
            .database(name)
            .application_name(ADMIN_APPLICATION)
    }

    /// Connects once, as the provisioner does, without the pool's retries: what the
    /// server checks at start.
    pub async fn probe(&self, timeout: std::time::Duration) -> Result<(), ProbeError> {
        use sqlx::Connection;
        let options = self.base.clone().application_name(ADMIN_APPLICATION);
        match tokio::time::timeout(timeout, sqlx::PgConnection::connect_with(&options)).await {
            Err(_) => Err(ProbeError::TimedOut(timeout)),
            Ok(Err(e)) if postgres::is_configuration_fault(&e) => Err(ProbeError::Refused(e)),
            Ok(Err(e)) => Err(ProbeError::Unreachable(e)),
            Ok(Ok(conn)) => {
                // Closing is a courtesy to the instance; the probe has its answer.
                let _ = conn.close().await;
                Ok(())
            }
        }
    }

    pub fn admin(&self) -> &PgPool {
        &self.admin
    }

    /// Administrative connections to the schema-mode database (which must exist).
    pub fn schemas_admin(&self) -> &PgPool {
        &self.schemas_admin
    }

    pub async fn close(&self) {
        self.admin.close().await;
        self.schemas_admin.close().await;
    }
}
