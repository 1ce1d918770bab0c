//! Isolation modes as plug-ins: each mode (the built-in collapsed tenant, a SQLite file, a
//! PostgreSQL database, a schema in a shared database) is one module implementing
//! [`IsolationMode`] and describing itself as a [`Mode`], registered in [`mode`]. Everything else — storage, pools, the
//! provisioner, the broker, config — asks the mode, never matches on [`Isolation`].
//!
//! Adding a mode is one new file here (its operations and its `MODE`) plus one line in
//! [`mode`] (decision 0012).

mod collapsed;
mod database;
mod file;
mod schema;

use futures_util::future::BoxFuture;
use tenantry_proto::Isolation;

use super::instances::Instance;
use super::tenants::{StoreError, TenantStorage};
use super::{Backend, PoolSettings, TenantDb, TenantLocation};

pub use database::{template_exists, with_template};
pub use file::with_file_template;

/// How a mode's tenants share connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// The registry's own pool (the collapsed built-in tenant).
    Registry,
    /// A pool per tenant, cached and evicted by [`crate::pools`].
    Tenant,
    /// One pool per instance, shared by its tenants; each checkout is pinned to one.
    Instance,
}

/// Whose logins a mode's tenants connect with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logins {
    /// None: the storage is a file, or the registry.
    None,
    /// The tenant's own (leased per tenant under OpenBAO).
    Tenant,
    /// The instance's schema login, acting as one tenant per checkout (decision 0008).
    Instance,
}

/// The template a new tenant's storage is copied from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Template<'a> {
    /// The embedded backend's template file.
    File,
    /// An instance's `tenantry_template` database.
    Instance(&'a str),
}

/// What creating storage needs from the migrator, which sits above the store: templates
/// at the latest tenant chain, and the chain itself for storage made without a template.
pub trait TenantTables: Send + Sync + std::fmt::Debug {
    /// The newest tenant chain version.
    fn latest(&self) -> i64;

    /// Whether copies of `template` are known to be at [`Self::latest`] without looking.
    fn is_current(&self, template: Template<'_>) -> bool;

    /// Brings an instance's template database to the latest tenant chain.
    fn update_template<'a>(&'a self, st: &'a TenantStorage, instance: &'a Instance) -> Op<'a, ()>;

    /// Creates the tenant chain's tables on `conn`, whose `search_path` is the new
    /// tenant's schema, inside the transaction that creates the schema.
    fn create_in<'a>(&'a self, conn: &'a mut sqlx::PgConnection, schema: &'a str) -> Op<'a, ()>;
}

/// What every mode operation returns.
pub type Op<'a, T> = BoxFuture<'a, Result<T, StoreError>>;

/// Where an operation acts: the storage layer and one tenant's location.
#[derive(Clone, Copy)]
pub struct At<'a> {
    pub st: &'a TenantStorage,
    pub loc: &'a TenantLocation,
}

/// One isolation mode's operations: where a tenant's data lives and how it comes and
/// goes. Every operation is idempotent, so a crash at any point is finished by running it
/// again. Room for export and import, which move a tenant between storages of two modes.
pub trait IsolationMode: Send + Sync {
    /// Creates the tenant's storage at the latest tenant chain; storage left by an
    /// interrupted attempt is complete and kept. Returns the tenant chain version when it
    /// is known to be current without looking.
    fn create<'a>(&'a self, at: At<'a>) -> Op<'a, Option<i64>>;

    /// A handle on the tenant's storage with a pool of its own.
    fn open<'a>(&'a self, at: At<'a>, settings: PoolSettings) -> Op<'a, TenantDb>;

    /// The tenant's handle on its instance's shared pool ([`Pooling::Instance`] modes).
    fn on_instance_pool(&self, at: At<'_>, _pool: sqlx::PgPool) -> Result<TenantDb, StoreError> {
        Err(StoreError::Unsupported(at.loc.isolation))
    }

    /// Removes the storage, ending its sessions first. Returns whether anything was there.
    fn destroy<'a>(&'a self, at: At<'a>) -> Op<'a, bool>;

    /// Whether any trace of the storage is left.
    fn exists<'a>(&'a self, at: At<'a>) -> Op<'a, bool>;

    /// Bytes the storage takes (`None`: not the tenant's alone to count).
    fn size<'a>(&'a self, at: At<'a>) -> Op<'a, Option<u64>>;
}

/// A registered mode: what it is, as data, and its operations.
pub struct Mode {
    isolation: Isolation,
    pooling: Pooling,
    logins: Logins,
    /// The backends it can place tenants on (none for the collapsed tenant, never placed).
    backends: &'static [Backend],
    operations: &'static dyn IsolationMode,
}

impl Mode {
    pub const fn new(
        isolation: Isolation,
        (pooling, logins): (Pooling, Logins),
        backends: &'static [Backend],
        operations: &'static dyn IsolationMode,
    ) -> Mode {
        Mode {
            isolation,
            pooling,
            logins,
            backends,
            operations,
        }
    }

    pub fn isolation(&self) -> Isolation {
        self.isolation
    }

    pub fn available_on(&self, backend: Backend) -> bool {
        self.backends.contains(&backend)
    }

    pub fn pooling(&self) -> Pooling {
        self.pooling
    }

    pub fn logins(&self) -> Logins {
        self.logins
    }

    pub fn operations(&self) -> &'static dyn IsolationMode {
        self.operations
    }
}

/// The registry of modes: the one place an [`Isolation`] becomes code.
pub fn mode(isolation: Isolation) -> &'static Mode {
    match isolation {
        Isolation::Collapsed => &collapsed::MODE,
        Isolation::File => &file::MODE,
        Isolation::Database => &database::MODE,
        Isolation::Schema => &schema::MODE,
    }
}

/// `isolation.available_on(backend)`: the one rule config and placement both use.
pub trait AvailableOn {
    fn available_on(self, backend: Backend) -> bool;
}

impl AvailableOn for Isolation {
    fn available_on(self, backend: Backend) -> bool {
        mode(self).available_on(backend)
    }
}

/// Every mode that can place tenants on `backend`, for messages that list the choices.
pub fn placeable_on(backend: Backend) -> Vec<Isolation> {
    Isolation::ALL
        .iter()
        .copied()
        .filter(|i| i.available_on(backend))
        .collect()
}
