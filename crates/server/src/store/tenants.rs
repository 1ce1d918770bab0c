//! Tenant storage: creating, opening and destroying one tenant's storage. What differs
//! per isolation mode is in [`super::isolation`]; this is what every mode shares — the
//! instances, the credential source, and how failures are told apart. Logins are in
//! [`super::logins`], tenants' group roles in [`super::roles`].

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;

use tenantry_proto::Isolation;

use super::credentials::{CredentialError, CredentialSource, Credentials, TenantRoles};
use super::instances::Instance;
use super::isolation::{At, Pooling, TenantTables, mode};
use super::{Db, PoolSettings, TenantDb, TenantLocation};
use crate::names::DataLayout;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("isolation mode `{0}` is not available on this backend")]
    Unsupported(Isolation),
    #[error("the tenant's storage does not exist")]
    Missing,
    #[error("instance `{0}` is not configured")]
    UnknownInstance(String),
    #[error("instance `{instance}` is unavailable: {source}")]
    InstanceUnavailable {
        instance: String,
        source: sqlx::Error,
    },
    #[error("storage I/O failed: {0}")]
    Io(#[from] io::Error),
    #[error("tenant database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    #[error("migrating the tenant chain failed: {0}")]
    Chain(super::credentials::Cause),
}

/// Creates, opens and destroys tenant storage.
#[derive(Debug)]
pub struct TenantStorage {
    layout: DataLayout,
    /// Collapsed mode keeps the built-in tenant's tables in the registry database.
    registry: Db,
    settings: PoolSettings,
    credentials: Arc<dyn CredentialSource>,
    roles: TenantRoles,
    /// The tenant chain and its templates (the migrator's), for creating storage.
    tables: Arc<dyn TenantTables>,
    instances: BTreeMap<String, Instance>,
    /// Copies read the file template; migrations write it. They never overlap.
    file_template: tokio::sync::Mutex<()>,
}

impl TenantStorage {
    pub fn new(
        layout: DataLayout,
        registry: Db,
        settings: PoolSettings,
        credentials: Arc<dyn CredentialSource>,
        tables: Arc<dyn TenantTables>,
        instances: BTreeMap<String, Instance>,
    ) -> Self {
        TenantStorage {
            layout,
            registry,
            settings,
            roles: credentials.tenant_roles(),
            credentials,
            tables,
            instances,
            file_template: tokio::sync::Mutex::new(()),
        }
    }

    /// Whether tenants have group roles of their own, which storage creates and drops.
    pub fn tenant_roles(&self) -> TenantRoles {
        self.roles
    }

    pub fn instances(&self) -> impl Iterator<Item = &Instance> {
        self.instances.values()
    }

    pub fn instance(&self, name: &str) -> Result<&Instance, StoreError> {
        self.instances
            .get(name)
            .ok_or_else(|| StoreError::UnknownInstance(name.to_owned()))
    }

    pub fn layout(&self) -> &DataLayout {
        &self.layout
    }

    pub fn settings(&self) -> PoolSettings {
        self.settings
    }

    pub(super) fn registry(&self) -> &Db {
        &self.registry
    }

    pub(super) fn file_template_lock(&self) -> &tokio::sync::Mutex<()> {
        &self.file_template
    }

    pub(super) fn tables(&self) -> &dyn TenantTables {
        &*self.tables
    }

    pub(super) fn source(&self) -> &dyn CredentialSource {
        &*self.credentials
    }

    /// The tenant's credentials from the source.
    pub(super) async fn credentials(
        &self,
        loc: &TenantLocation,
    ) -> Result<Credentials, StoreError> {
        Ok(self.credentials.credentials(loc).await?)
    }

    /// Tells an instance that cannot be reached from any other database error.
    pub(super) fn unavailable(instance: &Instance) -> impl Fn(sqlx::Error) -> StoreError + '_ {
        move |source| {
            if super::is_unreachable(&source) {
                StoreError::InstanceUnavailable {
                    instance: instance.name.clone(),
                    source,
                }
            } else {
                StoreError::Db(source)
            }
        }
    }

    /// Opens a pool on the tenant's storage. A collapsed tenant gets the registry pool
    /// itself: release it with [`Self::release`], never by closing it.
    pub async fn open(
        &self,
        loc: &TenantLocation,
        settings: Option<PoolSettings>,
    ) -> Result<TenantDb, StoreError> {
        let settings = settings.unwrap_or(self.settings);
        let at = At { st: self, loc };
        Ok(mode(loc.isolation)
            .operations()
            .open(at, settings)
            .await?
            .at(loc))
    }

    /// The tenant's handle on its instance's shared pool (modes that pool per instance).
    pub fn on_instance_pool(
        &self,
        pool: sqlx::PgPool,
        loc: &TenantLocation,
    ) -> Result<TenantDb, StoreError> {
        let at = At { st: self, loc };
        Ok(mode(loc.isolation)
            .operations()
            .on_instance_pool(at, pool)?
            .at(loc))
    }

    /// Closes a handle from [`Self::open`] unless it is the shared registry pool.
    pub async fn release(&self, loc: &TenantLocation, db: TenantDb) {
        if mode(loc.isolation).pooling() != Pooling::Registry {
            db.db().close().await;
        }
    }

    /// Creates the tenant's storage at the latest tenant chain. Idempotent: storage left by
    /// an interrupted attempt is complete and kept.
    ///
    /// Returns the tenant chain version when it is known to be current without looking:
    /// copied from a template this process brought up to date, or just migrated.
    pub async fn create(&self, loc: &TenantLocation) -> Result<Option<i64>, StoreError> {
        mode(loc.isolation)
            .operations()
            .create(At { st: self, loc })
            .await
    }

    /// Removes the tenant's storage, ending its sessions first. Returns whether anything
    /// was there.
    pub async fn destroy(&self, loc: &TenantLocation) -> Result<bool, StoreError> {
        mode(loc.isolation)
            .operations()
            .destroy(At { st: self, loc })
            .await
    }

    /// Whether any trace of the tenant's storage is left.
    pub async fn exists(&self, loc: &TenantLocation) -> Result<bool, StoreError> {
        mode(loc.isolation)
            .operations()
            .exists(At { st: self, loc })
            .await
    }

    /// Bytes the tenant's storage takes (`None`: not its alone to count).
    pub async fn size(&self, loc: &TenantLocation) -> Result<Option<u64>, StoreError> {
        mode(loc.isolation)
            .operations()
            .size(At { st: self, loc })
            .await
    }
}
