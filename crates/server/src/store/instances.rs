//! The PostgreSQL instances tenants are placed on.

use std::collections::BTreeMap;

use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;

use super::PoolSettings;
use super::postgres;
use crate::config::InstanceConfig;

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
}

impl Instance {
    /// Connects lazily: an instance that is down does not stop the server from starting.
    pub fn new(
        name: &str,
        config: &InstanceConfig,
        settings: PoolSettings,
    ) -> Result<Instance, sqlx::Error> {
        let base = postgres::options(config.url.expose())?;
        let admin = postgres::pool_options(PoolSettings {
            max_connections: 4,
            ..settings
        })
        .connect_lazy_with(base.clone());
        Ok(Instance {
            name: name.to_owned(),
            region: config.region.clone(),
            labels: config.labels.clone(),
            max_tenants: config.max_tenants,
            base,
            admin,
        })
    }

    /// Connection options for one database on this server.
    pub fn database(&self, name: &str) -> PgConnectOptions {
        self.base.clone().database(name)
    }

    pub fn admin(&self) -> &PgPool {
        &self.admin
    }

    pub async fn close(&self) {
        self.admin.close().await;
    }
}
