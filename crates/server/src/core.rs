//! The parts every command needs: configuration, the registry, migrations and tenant
//! storage. `serve` builds the request path on top; `migrate` uses it as is.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::broker::{self, CredentialError, CredentialSource};
use crate::cache::{Cache, CacheError};
use crate::catalog::Catalog;
use crate::config::Config;
use crate::media::{Media, MediaError};
use crate::migrator::{Chains, Templates};
use crate::names::DataLayout;
use crate::store::instances::Instance;
use crate::store::isolation::TenantTables;
use crate::store::tenants::TenantStorage;
use crate::store::{Db, PoolSettings, postgres, sqlite};

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot open the {what} database: {source}")]
    Database {
        what: &'static str,
        source: sqlx::Error,
    },
    #[error("instance `{name}` (instances.{name}.url): {source}")]
    Instance { name: String, source: sqlx::Error },
    #[error("OpenBAO (vault.url): {0}")]
    Broker(#[from] CredentialError),
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error(transparent)]
    Media(#[from] MediaError),
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
    /// The shared partition's database: the registry's own unless `shared.url` is set.
    pub shared: Db,
    pub catalog: Catalog,
    pub chains: Arc<Chains>,
    /// The tenant chain's templates, which new tenants are copied from.
    pub templates: Arc<Templates>,
    /// Where tenant storage gets its credentials; storage holds the same source.
    pub broker: Arc<dyn CredentialSource>,
    pub storage: Arc<TenantStorage>,
    /// Redis, when `cache.url` is set.
    pub cache: Option<Arc<Cache>>,
    /// Tenants' files.
    pub media: Arc<Media>,
}

impl Core {
    /// Creates the data directory if needed and opens the registry (creating its database on
    /// PostgreSQL if missing). Applies nothing.
    pub async fn open(config: Config) -> Result<Core, OpenError> {
        let layout = DataLayout::new(&config.data_dir);
        let mut dirs = vec![layout.root().to_path_buf()];
        if !config.is_postgres() {
            dirs.push(layout.tenants_dir());
        }
        for dir in dirs {
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
        let open_db = |what: &'static str| move |source| OpenError::Database { what, source };
        let (registry, shared) = match (&config.registry.url, &config.shared.url) {
            (None, _) => {
                let db = sqlite::open(&layout.registry_db(), registry_settings, true)
                    .await
                    .map_err(open_db("registry"))?;
                (db.clone(), db)
            }
            (Some(url), shared_url) => {
                let options = postgres::options(url.expose()).map_err(open_db("registry"))?;
                let registry = postgres::open_or_create(options, registry_settings)
                    .await
                    .map_err(open_db("registry"))?;
                let shared = match shared_url {
                    Some(url) => {
                        let options = postgres::options(url.expose()).map_err(open_db("shared"))?;
                        postgres::open_or_create(options, registry_settings)
                            .await
                            .map_err(open_db("shared"))?
                    }
                    None => registry.clone(),
                };
                (registry, shared)
            }
        };
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
        let broker = broker::connect(&config).await?;
        let mut instances = BTreeMap::new();
        for (name, instance) in &config.instances {
            // After provision-bootstrap, the provisioner's login lives in OpenBAO only.
            let login = broker.instance_login(name).await?;
            let opened = Instance::new(name, instance, settings, login).map_err(|source| {
                OpenError::Instance {
                    name: name.clone(),
                    source,
                }
            })?;
            instances.insert(name.clone(), opened);
        }
        let cache = match &config.cache.url {
            Some(url) => Some(Arc::new(Cache::connect(
                url,
                config.cache.ca_file.as_deref(),
            )?)),
            None => None,
        };
        let media = Arc::new(Media::open(&config.media, &layout)?);
        let chains = Arc::new(chains);
        let templates = Arc::new(Templates::new(Arc::clone(&chains)));
        let storage = TenantStorage::new(
            layout.clone(),
            registry.clone(),
            settings,
            Arc::clone(&broker),
            Arc::clone(&templates) as Arc<dyn TenantTables>,
            instances,
        );
        Ok(Core {
            catalog: Catalog::new(registry.clone()),
            config: Arc::new(config),
            layout,
            registry,
            shared,
            templates,
            chains,
            broker,
            storage: Arc::new(storage),
            cache,
            media,
        })
    }

    pub fn pool_settings(&self) -> PoolSettings {
        pool_settings(&self.config)
    }

    /// Whether the shared partition has a database of its own.
    pub fn shared_is_separate(&self) -> bool {
        self.config.shared.url.is_some()
    }

    pub async fn close(&self) {
        for instance in self.storage.instances() {
            instance.close().await;
        }
        if self.shared_is_separate() {
            self.shared.close().await;
        }
        self.registry.close().await;
    }
}

fn pool_settings(config: &Config) -> PoolSettings {
    PoolSettings {
        max_connections: config.pools.per_tenant,
        idle_timeout: config.pools.idle_timeout.as_duration(),
        acquire_timeout: config.pools.acquire_timeout.as_duration(),
        max_lifetime: None,
    }
}
