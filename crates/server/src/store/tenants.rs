//! Tenant storage: creating, opening and destroying one tenant's database, per isolation
//! mode. Embedded: one SQLite file per tenant, copied from a template kept at the latest
//! tenant chain.

use std::io;
use std::path::Path;

use tenantry_proto::Isolation;

use super::{Db, PoolSettings, sqlite};
use crate::broker::{BrokerError, CredentialBroker};
use crate::names::DataLayout;
use crate::routing::TenantLocation;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("isolation mode `{0}` is not available on this backend")]
    Unsupported(Isolation),
    #[error("the tenant's storage does not exist")]
    Missing,
    #[error("storage I/O failed: {0}")]
    Io(#[from] io::Error),
    #[error("tenant database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Broker(#[from] BrokerError),
}

/// Creates, opens and destroys tenant databases.
#[derive(Debug)]
pub struct TenantStorage {
    layout: DataLayout,
    /// Collapsed mode keeps the built-in tenant's tables in the registry database.
    registry: Db,
    settings: PoolSettings,
    broker: CredentialBroker,
    /// Copies read the template; migrations write it. They never overlap.
    template: tokio::sync::Mutex<()>,
}

impl TenantStorage {
    pub fn new(
        layout: DataLayout,
        registry: Db,
        settings: PoolSettings,
        broker: CredentialBroker,
    ) -> Self {
        TenantStorage {
            layout,
            registry,
            settings,
            broker,
            template: tokio::sync::Mutex::new(()),
        }
    }

    /// Opens a pool on the tenant's database. For a collapsed tenant this is the registry
    /// pool itself: release it with [`Self::release`], never by closing it.
    pub async fn open(
        &self,
        loc: &TenantLocation,
        settings: Option<PoolSettings>,
    ) -> Result<Db, StoreError> {
        match loc.isolation {
            Isolation::Collapsed => Ok(self.registry.clone()),
            Isolation::File => {
                let path = self.layout.tenant_db(&loc.slug);
                if !path.is_file() {
                    return Err(StoreError::Missing);
                }
                // Files need no credentials, but the broker is still the one that says so.
                let _credentials = self.broker.credentials(loc).await?;
                Ok(sqlite::open(&path, settings.unwrap_or(self.settings), false).await?)
            }
            other => Err(StoreError::Unsupported(other)),
        }
    }

    /// Closes a pool obtained from [`Self::open`] unless it is the shared registry pool.
    pub async fn release(&self, loc: &TenantLocation, db: Db) {
        if loc.isolation != Isolation::Collapsed {
            db.close().await;
        }
    }

    /// Creates the tenant's database from the template. Idempotent: an existing database
    /// (from an interrupted earlier attempt, which only ever renames a complete copy into
    /// place) is kept.
    pub async fn create(&self, loc: &TenantLocation) -> Result<(), StoreError> {
        match loc.isolation {
            Isolation::Collapsed => Ok(()),
            Isolation::File => {
                let target = self.layout.tenant_db(&loc.slug);
                if target.is_file() {
                    return Ok(());
                }
                tokio::fs::create_dir_all(self.layout.tenants_dir()).await?;
                let staging = self.layout.tenant_db_staging(&loc.slug);
                remove_if_exists(&staging).await?;
                {
                    let _read = self.template.lock().await;
                    let template = self.open_template_unlocked().await?;
                    let copied = sqlite::copy_to(&template, &staging).await;
                    template.close().await;
                    copied?;
                }
                tokio::fs::rename(&staging, &target).await?;
                Ok(())
            }
            other => Err(StoreError::Unsupported(other)),
        }
    }

    /// The broker that issues this storage's credentials.
    pub fn broker(&self) -> &CredentialBroker {
        &self.broker
    }

    /// Removes the tenant's database. Returns whether anything was there.
    pub async fn destroy(&self, loc: &TenantLocation) -> Result<bool, StoreError> {
        match loc.isolation {
            Isolation::Collapsed => Err(StoreError::Unsupported(Isolation::Collapsed)),
            Isolation::File => {
                let main = self.layout.tenant_db(&loc.slug);
                let mut removed = false;
                for path in [
                    main.clone(),
                    with_suffix(&main, "-wal"),
                    with_suffix(&main, "-shm"),
                    self.layout.tenant_db_staging(&loc.slug),
                ] {
                    removed |= remove_if_exists(&path).await?;
                }
                Ok(removed)
            }
            other => Err(StoreError::Unsupported(other)),
        }
    }

    /// Whether any trace of the tenant's database is left.
    pub async fn exists(&self, loc: &TenantLocation) -> Result<bool, StoreError> {
        match loc.isolation {
            Isolation::Collapsed => Ok(true),
            Isolation::File => {
                let main = self.layout.tenant_db(&loc.slug);
                Ok([
                    main.clone(),
                    with_suffix(&main, "-wal"),
                    with_suffix(&main, "-shm"),
                ]
                .iter()
                .any(|p| p.exists()))
            }
            other => Err(StoreError::Unsupported(other)),
        }
    }

    /// Runs `f` on the template database with copies held off.
    pub async fn with_template<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(Db) -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let _write = self.template.lock().await;
        let template = self.open_template_unlocked().await?;
        let result = f(template.clone()).await;
        template.close().await;
        result
    }

    async fn open_template_unlocked(&self) -> Result<Db, StoreError> {
        tokio::fs::create_dir_all(self.layout.root()).await?;
        let one = PoolSettings {
            max_connections: 1,
            ..self.settings
        };
        Ok(sqlite::open(&self.layout.template_db(), one, true).await?)
    }
}

fn with_suffix(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    s.into()
}

async fn remove_if_exists(path: &Path) -> io::Result<bool> {
    match tokio::fs::remove_file(path).await {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}
