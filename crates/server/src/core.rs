//! The parts every command needs: configuration, the registry, migrations and tenant
//! storage. `serve` builds the request path on top; `migrate` uses it as is.

use std::sync::Arc;

use crate::broker::{CredentialBroker, StaticBroker};
use crate::catalog::Catalog;
use crate::config::Config;
use crate::migrator::Chains;
use crate::names::DataLayout;
use crate::store::tenants::TenantStorage;
use crate::store::{Db, PoolSettings, sqlite};

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot open the registry database {path}: {source}")]
    Registry { path: String, source: sqlx::Error },
    #[error("cannot read migrations from {path}: {source}")]
    Migrations {
        path: String,
        source: sqlx::migrate::MigrateError,
    },
}

pub struct Core {
    pub config: Arc<Config>,
    pub layout: DataLayout,
    pub registry: Db,
    pub catalog: Catalog,
    pub chains: Arc<Chains>,
    pub storage: Arc<TenantStorage>,
}

impl Core {
    /// Creates the data directory if needed and opens the registry. Applies nothing.
    pub async fn open(config: Config) -> Result<Core, OpenError> {
        let layout = DataLayout::new(&config.data_dir);
        for dir in [
            layout.root().to_path_buf(),
            layout.tenants_dir(),
            layout.media_root(),
        ] {
            std::fs::create_dir_all(&dir).map_err(|source| OpenError::DataDir {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let settings = pool_settings(&config);
        let registry_settings = PoolSettings {
            max_connections: settings.max_connections.max(8),
            ..settings
        };
        let registry = sqlite::open(&layout.registry_db(), registry_settings, true)
            .await
            .map_err(|source| OpenError::Registry {
                path: layout.registry_db().display().to_string(),
                source,
            })?;
        let backend = registry.backend();
        let chains =
            match &config.migrations.dir {
                Some(dir) => Chains::from_dir(dir, backend).await.map_err(|source| {
                    OpenError::Migrations {
                        path: dir.display().to_string(),
                        source,
                    }
                })?,
                None => Chains::embedded(backend),
            };
        let broker = CredentialBroker::Static(StaticBroker::embedded());
        let storage = TenantStorage::new(layout.clone(), registry.clone(), settings, broker);
        Ok(Core {
            catalog: Catalog::new(registry.clone()),
            config: Arc::new(config),
            layout,
            registry,
            chains: Arc::new(chains),
            storage: Arc::new(storage),
        })
    }

    pub fn pool_settings(&self) -> PoolSettings {
        pool_settings(&self.config)
    }

    pub async fn close(&self) {
        self.registry.close().await;
    }
}

fn pool_settings(config: &Config) -> PoolSettings {
    PoolSettings {
        max_connections: config.pools.per_tenant,
        idle_timeout: config.pools.idle_timeout.as_duration(),
        acquire_timeout: config.pools.acquire_timeout.as_duration(),
    }
}
