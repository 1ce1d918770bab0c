//! Templates: the storage new tenants are copied from, kept at the latest tenant chain,
//! and the tenant chain for storage made without one (a new schema). [`Templates`] is
//! what [`crate::store::isolation`] asks when it creates a tenant.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use super::{Chain, ChainState, Chains, MigrateFailure, apply_tenant, tenant_state};
use crate::store::TenantDb;
use crate::store::instances::Instance;
use crate::store::isolation::{self, Op, Template, TenantTables};
use crate::store::tenants::{StoreError, TenantStorage};

/// The state of a template before and after migrating it.
pub type Migrated = (ChainState, ChainState);

/// The tenant chain, and which templates this process knows to be at its end.
#[derive(Debug)]
pub struct Templates {
    chains: Arc<Chains>,
    /// Templates seen at the latest tenant chain: copies of them need no look.
    current: Mutex<HashSet<Key>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    File,
    Instance(String),
}

impl From<Template<'_>> for Key {
    fn from(template: Template<'_>) -> Key {
        match template {
            Template::File => Key::File,
            Template::Instance(name) => Key::Instance(name.to_owned()),
        }
    }
}

impl From<MigrateFailure> for StoreError {
    fn from(e: MigrateFailure) -> StoreError {
        StoreError::Chain(Box::new(e))
    }
}

impl Templates {
    pub fn new(chains: Arc<Chains>) -> Templates {
        Templates {
            chains,
            current: Mutex::new(HashSet::new()),
        }
    }

    fn mark(&self, template: Template<'_>, state: &ChainState) {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if state.is_current() {
            current.insert(template.into());
        } else {
            current.remove(&Key::from(template));
        }
    }

    /// Brings the embedded template file to the latest tenant chain (or reports where it
    /// is, with `dry_run`).
    pub async fn migrate_file(
        &self,
        storage: &TenantStorage,
        dry_run: bool,
    ) -> Result<Migrated, StoreError> {
        let chains = &self.chains;
        let result = isolation::with_file_template(storage, async |template| {
            Ok(migrate(template, chains, dry_run).await?)
        })
        .await?;
        self.mark(Template::File, &result.1);
        Ok(result)
    }

    /// Brings an instance's `tenantry_template` to the latest tenant chain, creating it if
    /// missing (a dry run reports a missing one as wholly pending).
    pub async fn migrate_instance(
        &self,
        storage: &TenantStorage,
        instance: &Instance,
        dry_run: bool,
    ) -> Result<Migrated, StoreError> {
        if dry_run && !isolation::template_exists(instance).await? {
            let missing = ChainState {
                current: 0,
                latest: self.chains.latest(Chain::Tenant),
                pending: self
                    .chains
                    .get(Chain::Tenant)
                    .iter()
                    .map(|m| (m.version, m.description.to_string()))
                    .collect(),
            };
            return Ok((missing.clone(), missing));
        }
        let chains = &self.chains;
        let result = isolation::with_template(storage, instance, async |template| {
            Ok(migrate(template, chains, dry_run).await?)
        })
        .await?;
        self.mark(Template::Instance(&instance.name), &result.1);
        Ok(result)
    }
}

async fn migrate(
    template: &TenantDb,
    chains: &Chains,
    dry_run: bool,
) -> Result<Migrated, MigrateFailure> {
    if dry_run {
        tenant_state(template, chains).await.map(|s| (s.clone(), s))
    } else {
        apply_tenant(template, chains).await
    }
}

impl TenantTables for Templates {
    fn latest(&self) -> i64 {
        self.chains.latest(Chain::Tenant)
    }

    fn is_current(&self, template: Template<'_>) -> bool {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&Key::from(template))
    }

    fn update_template<'a>(&'a self, st: &'a TenantStorage, instance: &'a Instance) -> Op<'a, ()> {
        Box::pin(async move {
            self.migrate_instance(st, instance, false).await?;
            Ok(())
        })
    }

    fn create_in<'a>(&'a self, conn: &'a mut sqlx::PgConnection, schema: &'a str) -> Op<'a, ()> {
        Box::pin(async move {
            self.chains
                .in_schema(Chain::Tenant, schema)
                .run_direct(None, conn, false)
                .await
                .map_err(MigrateFailure::from)?;
            Ok(())
        })
    }
}
