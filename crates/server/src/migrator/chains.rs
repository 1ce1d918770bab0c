//! The three migration chains and their separate version tables.

use std::fmt;
use std::path::Path;

use sqlx::migrate::{MigrateError, Migration, Migrator};

use crate::store::Backend;

/// A linear chain of migrations for one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Chain {
    /// `registry_*` tables: catalog, domains, versions, audit.
    Registry,
    /// `shared_*` tables: reference data identical for every tenant.
    Shared,
    /// Unprefixed tables: one tenant's own data.
    Tenant,
}

impl Chain {
    pub const ALL: [Chain; 3] = [Chain::Registry, Chain::Shared, Chain::Tenant];

    pub fn as_str(self) -> &'static str {
        match self {
            Chain::Registry => "registry",
            Chain::Shared => "shared",
            Chain::Tenant => "tenant",
        }
    }

    /// Each chain records its versions in its own table, so all three can share a database.
    pub fn version_table(self) -> &'static str {
        match self {
            Chain::Registry => "_tenantry_registry_migrations",
            Chain::Shared => "_tenantry_shared_migrations",
            Chain::Tenant => "_tenantry_tenant_migrations",
        }
    }
}

impl fmt::Display for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

static SQLITE_REGISTRY: Migrator = sqlx::migrate!("../../migrations/sqlite/registry");
static SQLITE_SHARED: Migrator = sqlx::migrate!("../../migrations/sqlite/shared");
static SQLITE_TENANT: Migrator = sqlx::migrate!("../../migrations/sqlite/tenant");
static POSTGRES_REGISTRY: Migrator = sqlx::migrate!("../../migrations/postgres/registry");
static POSTGRES_SHARED: Migrator = sqlx::migrate!("../../migrations/postgres/shared");
static POSTGRES_TENANT: Migrator = sqlx::migrate!("../../migrations/postgres/tenant");

/// The resolved migrations of all three chains for one backend.
#[derive(Debug)]
pub struct Chains {
    registry: Migrator,
    shared: Migrator,
    tenant: Migrator,
}

impl Chains {
    /// The migrations built into the binary.
    pub fn embedded(backend: Backend) -> Chains {
        let (registry, shared, tenant) = match backend {
            Backend::Sqlite => (&SQLITE_REGISTRY, &SQLITE_SHARED, &SQLITE_TENANT),
            Backend::Postgres => (&POSTGRES_REGISTRY, &POSTGRES_SHARED, &POSTGRES_TENANT),
        };
        Chains {
            registry: Self::with_table(registry.migrations.to_vec(), Chain::Registry),
            shared: Self::with_table(shared.migrations.to_vec(), Chain::Shared),
            tenant: Self::with_table(tenant.migrations.to_vec(), Chain::Tenant),
        }
    }

    /// Migrations read at run time from `<root>/<backend>/<chain>/`.
    pub async fn from_dir(root: &Path, backend: Backend) -> Result<Chains, MigrateError> {
        let mut resolved = Vec::with_capacity(3);
        for chain in Chain::ALL {
            let dir = root.join(backend.as_str()).join(chain.as_str());
            let migrator = Migrator::new(dir.as_path()).await?;
            resolved.push(Self::with_table(migrator.migrations.to_vec(), chain));
        }
        let mut it = resolved.into_iter();
        match (it.next(), it.next(), it.next()) {
            (Some(registry), Some(shared), Some(tenant)) => Ok(Chains {
                registry,
                shared,
                tenant,
            }),
            _ => Err(MigrateError::Source("a migration chain is missing".into())),
        }
    }

    fn with_table(migrations: Vec<Migration>, chain: Chain) -> Migrator {
        let mut migrator = Migrator::with_migrations(migrations);
        migrator.dangerous_set_table_name(chain.version_table());
        migrator
    }

    /// The chain's migrator with its version table inside `schema` (schema mode). Locking
    /// is ours: sqlx's lock is per database, which would serialise every schema in the
    /// shared pool database.
    pub fn in_schema(&self, chain: Chain, quoted_schema: &str) -> Migrator {
        let mut migrator = Migrator::with_migrations(self.get(chain).migrations.to_vec());
        migrator.dangerous_set_table_name(format!("{quoted_schema}.{}", chain.version_table()));
        migrator.set_locking(false);
        migrator
    }

    pub fn get(&self, chain: Chain) -> &Migrator {
        match chain {
            Chain::Registry => &self.registry,
            Chain::Shared => &self.shared,
            Chain::Tenant => &self.tenant,
        }
    }

    /// The newest version of a chain (0 when it has no migrations).
    pub fn latest(&self, chain: Chain) -> i64 {
        self.get(chain)
            .iter()
            .filter(|m| !m.migration_type.is_down_migration())
            .map(|m| m.version)
            .max()
            .unwrap_or(0)
    }
}
