//! The provisioner: creating a tenant, and deleting it with a verified purge.
//!
//! Both are recorded sequences of idempotent steps. The registry row is written first
//! (`provisioning`) and removed last (after `deleting` and a verified purge), so a crash at
//! any step leaves a row that the next start or `tenants reconcile` finishes.

pub mod bootstrap;
mod locks;
pub mod steps;

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;
use tenantry_proto::{Isolation, PurgeReport, TenantStatus};
use uuid::Uuid;

use crate::catalog::{Catalog, CatalogError, NewAuditEvent, NewTenant, TenantRecord};
use crate::core::Core;
use crate::migrator::{self, Chain, Chains, MigrateFailure, Templates};
use crate::names::{DataLayout, Slug};
use crate::pools::TenantPools;
use crate::routing::Routing;
use crate::scheduler::{self, Candidate, Constraint, NoMatch};
use crate::store::credentials::{CredentialSource, TenantRoles};
use crate::store::isolation::{AvailableOn, Logins, Pooling, mode, placeable_on};
use crate::store::tenants::{StoreError, TenantStorage};
use crate::store::{Backend, TenantLocation};

use locks::TenantLocks;
use steps::{Step, crash_point};

/// The instance name of the embedded backend.
pub const EMBEDDED_INSTANCE: &str = "embedded";

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("tenant {0} already exists")]
    Exists(String),
    #[error("tenant {0} is being deleted; its slug is reserved until the purge is verified")]
    Deleting(String),
    #[error("no tenant `{0}`")]
    NotFound(String),
    #[error("tenant {0} is busy with another lifecycle operation; try again")]
    Busy(String),
    #[error("tenant {0} is built in and cannot be deleted")]
    Protected(String),
    #[error("tenant {slug} is {from}; it cannot become {to}")]
    InvalidTransition {
        slug: String,
        from: TenantStatus,
        to: TenantStatus,
    },
    #[error("purge of tenant {slug} could not be verified: {what} is still there")]
    PurgeUnverified { slug: String, what: &'static str },
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("tenant chain migration failed: {0}")]
    Migrate(#[from] MigrateFailure),
    #[error("media directory: {0}")]
    Io(#[from] io::Error),
    #[error(transparent)]
    NoInstance(#[from] NoMatch),
    #[error("isolation `{0}` is not available here; use {1}")]
    IsolationUnsupported(Isolation, String),
}

/// Where the caller wants a new tenant.
#[derive(Debug, Clone, Default)]
pub struct PlacementWish {
    pub isolation: Option<Isolation>,
    pub constraint: Constraint,
}

/// Who asked for a change, for the audit log.
#[derive(Debug, Clone)]
pub struct Actor {
    pub name: String,
    pub request_id: Option<String>,
}

impl Actor {
    pub fn system() -> Actor {
        Actor {
            name: "system".into(),
            request_id: None,
        }
    }
}

/// What `reconcile` finished.
#[derive(Debug, Default)]
pub struct ReconcileReport {
    pub provisioned: Vec<String>,
    pub purged: Vec<String>,
    pub failed: Vec<(String, String)>,
}

pub struct Provisioner {
    catalog: Catalog,
    routing: Arc<Routing>,
    pools: Arc<TenantPools>,
    storage: Arc<TenantStorage>,
    broker: Arc<dyn CredentialSource>,
    chains: Arc<Chains>,
    templates: Arc<Templates>,
    layout: DataLayout,
    default_isolation: Isolation,
    locks: TenantLocks,
}

impl Provisioner {
    /// A provisioner over the core's catalog and storage, publishing to `routing` and
    /// closing pools in `pools`.
    pub fn new(core: &Core, routing: Arc<Routing>, pools: Arc<TenantPools>) -> Self {
        Provisioner {
            catalog: core.catalog.clone(),
            routing,
            pools,
            storage: Arc::clone(&core.storage),
            broker: Arc::clone(&core.broker),
            chains: Arc::clone(&core.chains),
            templates: Arc::clone(&core.templates),
            layout: core.layout.clone(),
            default_isolation: core.config.isolation.default,
            locks: TenantLocks::default(),
        }
    }

    /// Creates a tenant: registry row, storage from the template, tenant chain, media
    /// directory, then `active`. On failure everything created is rolled back.
    pub async fn create(
        &self,
        slug: &Slug,
        display_name: &str,
        wish: &PlacementWish,
        actor: &Actor,
    ) -> Result<TenantRecord, ProvisionError> {
        let _one_at_a_time = self.exclusive(slug)?;
        self.refuse_taken(slug).await?;
        let (isolation, instance) = self.place(wish).await?;
        let record = self
            .catalog
            .insert_tenant(&NewTenant {
                id: Uuid::now_v7(),
                slug: slug.as_str().to_owned(),
                display_name: display_name.to_owned(),
                status: TenantStatus::Provisioning,
                isolation,
                instance,
                physical_name: slug.physical_name(),
            })
            .await
            .map_err(|e| match e {
                CatalogError::Conflict(_) => ProvisionError::Exists(slug.to_string()),
                other => other.into(),
            })?;
        self.audit(
            actor,
            "tenant.create",
            &record,
            json!({ "isolation": record.isolation, "instance": record.instance }),
        )
        .await?;
        self.step(&record, Step::Registered).await?;
        match self.finish_provisioning(&record).await {
            Ok(record) => Ok(record),
            Err(e) => {
                tracing::error!(tenant = %slug, error = %e, "provisioning failed; rolling back");
                // Marked for deletion first, so a rollback that cannot finish now (the
                // instance is down) is finished by reconcile instead of revived.
                if let Err(mark) = self
                    .catalog
                    .set_status(record.id, TenantStatus::Deleting)
                    .await
                {
                    tracing::error!(tenant = %slug, error = %mark, "could not mark the failed tenant for deletion");
                }
                if let Err(rollback) = self.purge(&record).await {
                    tracing::error!(tenant = %slug, error = %rollback, "rollback incomplete; `tenantry tenants reconcile` will finish it");
                }
                Err(e)
            }
        }
    }

    /// Chooses isolation and instance for a new tenant.
    async fn place(&self, wish: &PlacementWish) -> Result<(Isolation, String), ProvisionError> {
        let isolation = wish.isolation.unwrap_or(self.default_isolation);
        let backend = self.backend();
        if !isolation.available_on(backend) {
            return Err(ProvisionError::IsolationUnsupported(
                isolation,
                choices_on(backend),
            ));
        }
        if backend == Backend::Sqlite {
            if wish.constraint != Constraint::default()
                && wish.constraint.instance.as_deref() != Some(EMBEDDED_INSTANCE)
            {
                return Err(NoMatch::NoneMatch(wish.constraint.clone()).into());
            }
            return Ok((isolation, EMBEDDED_INSTANCE.to_owned()));
        }
        let counts: std::collections::HashMap<String, i64> = self
            .catalog
            .tenants_per_instance()
            .await?
            .into_iter()
            .collect();
        let candidates: Vec<Candidate<'_>> = self
            .storage
            .instances()
            .map(|i| Candidate {
                name: &i.name,
                region: &i.region,
                labels: &i.labels,
                max_tenants: i.max_tenants,
                tenants: counts.get(&i.name).copied().unwrap_or(0).max(0) as u64,
            })
            .collect();
        let chosen = scheduler::place(&candidates, &wish.constraint)?;
        Ok((isolation, chosen.to_owned()))
    }

    /// Tenants go to PostgreSQL instances when any are configured, else to the embedded
    /// backend.
    fn backend(&self) -> Backend {
        if self.storage.instances().next().is_some() {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }

    /// Ensures the built-in tenant exists (in its own file, or collapsed onto the registry).
    pub async fn ensure_default(&self, collapsed: bool) -> Result<TenantRecord, ProvisionError> {
        let slug = Slug::default_tenant();
        let _one_at_a_time = self.locks.lock(slug.as_str()).await;
        let record = match self.catalog.tenant(slug.as_str()).await? {
            Some(record) => record,
            None => {
                let (isolation, instance) = if collapsed {
                    (Isolation::Collapsed, EMBEDDED_INSTANCE.to_owned())
                } else {
                    self.place(&PlacementWish::default()).await?
                };
                let record = self
                    .catalog
                    .insert_tenant(&NewTenant {
                        id: Uuid::now_v7(),
                        slug: slug.as_str().to_owned(),
                        display_name: "Default".into(),
                        status: TenantStatus::Provisioning,
                        isolation,
                        instance,
                        physical_name: if collapsed {
                            "registry".into()
                        } else {
                            slug.physical_name()
                        },
                    })
                    .await?;
                self.audit(
                    &Actor::system(),
                    "tenant.create",
                    &record,
                    json!({ "builtin": true }),
                )
                .await?;
                record
            }
        };
        if record.status == TenantStatus::Provisioning {
            return self.finish_provisioning(&record).await;
        }
        Ok(record)
    }

    /// The idempotent steps after the registry row exists.
    async fn finish_provisioning(
        &self,
        record: &TenantRecord,
    ) -> Result<TenantRecord, ProvisionError> {
        let loc = location(record)?;
        let created = self.storage.create(&loc, &*self.templates).await?;
        self.step(record, Step::Storage).await?;
        self.broker
            .provision(&loc)
            .await
            .map_err(StoreError::from)?;
        self.step(record, Step::Credentials).await?;
        let version = match created {
            Some(version) => version,
            // Storage from an earlier attempt, or a template of unknown age: look.
            None => {
                let db = self.storage.open(&loc, None).await?;
                let migrated = migrator::apply_tenant(&db, &self.chains).await;
                self.storage.release(&loc, db).await;
                migrated?.1.current
            }
        };
        self.catalog
            .record_version(record.id, Chain::Tenant, version)
            .await?;
        self.step(record, Step::Migrated).await?;
        if mode(loc.isolation).pooling() != Pooling::Registry {
            tokio::fs::create_dir_all(self.layout.media_dir(&loc.slug)).await?;
        }
        self.step(record, Step::Media).await?;
        self.catalog
            .set_status(record.id, TenantStatus::Active)
            .await?;
        self.catalog.set_step(record.id, None).await?;
        self.routing.publish_tenant(&record.slug).await?;
        self.catalog
            .tenant(&record.slug)
            .await?
            .ok_or_else(|| ProvisionError::NotFound(record.slug.clone()))
    }

    /// Deletes a tenant: refused from now on, then purged and verified.
    pub async fn delete(&self, slug: &Slug, actor: &Actor) -> Result<PurgeReport, ProvisionError> {
        if slug.is_default() {
            return Err(ProvisionError::Protected(slug.to_string()));
        }
        let _one_at_a_time = self.exclusive(slug)?;
        let record = self
            .catalog
            .tenant(slug.as_str())
            .await?
            .ok_or_else(|| ProvisionError::NotFound(slug.to_string()))?;
        self.catalog
            .set_status(record.id, TenantStatus::Deleting)
            .await?;
        // From here on no request resolves to the tenant.
        self.routing.publish_tenant(&record.slug).await?;
        self.step(&record, Step::Deleting).await?;
        self.audit(actor, "tenant.delete", &record, json!({}))
            .await?;
        let report = self.purge(&record).await?;
        self.audit(
            actor,
            "tenant.purged",
            &record,
            serde_json::to_value(&report).unwrap_or_default(),
        )
        .await?;
        Ok(report)
    }

    /// Removes every trace of the tenant, verifies nothing is left, and only then frees the
    /// slug by deleting the registry row.
    async fn purge(&self, record: &TenantRecord) -> Result<PurgeReport, ProvisionError> {
        let began = Utc::now();
        let loc = location(record)?;
        // Requests that hold its storage finish first; no new one gets it.
        self.pools.retire(record.id).await;
        // Every step runs even when an earlier one fails (OpenBAO down must not keep the
        // database around); the first failure is reported and reconcile finishes the rest.
        // Leases first: their logins end before the storage they could reach goes.
        let revoked = self
            .broker
            .revoke(&loc)
            .await
            .map_err(|e| ProvisionError::from(StoreError::from(e)));
        if revoked.is_ok() {
            self.step(record, Step::CredentialsRevoked).await?;
        }
        let storage_removed = self.storage.destroy(&loc).await;
        if storage_removed.is_ok() {
            self.step(record, Step::StorageDropped).await?;
        }
        let media = self.layout.media_dir(&loc.slug);
        let media_removed = match tokio::fs::remove_dir_all(&media).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(ProvisionError::from(e)),
        };
        if media_removed.is_ok() {
            self.step(record, Step::MediaRemoved).await?;
        }
        revoked?;
        let storage_removed = storage_removed?;
        let media_removed = media_removed?;
        let unverified = |what| ProvisionError::PurgeUnverified {
            slug: record.slug.clone(),
            what,
        };
        if self.storage.exists(&loc).await? {
            return Err(unverified("the tenant database"));
        }
        if self.storage.group_role_exists(&loc).await? {
            return Err(unverified("the tenant's group role"));
        }
        if let Some(what) = self.broker.residue(&loc).await.map_err(StoreError::from)? {
            return Err(unverified(what));
        }
        if tokio::fs::try_exists(&media).await? {
            return Err(unverified("the media directory"));
        }
        self.step(record, Step::Verified).await?;
        after_the_second_of(began).await;
        let domains_removed = self.catalog.delete_tenant(record.id).await?;
        if self.catalog.tenant_leftovers(record.id).await? != 0 {
            return Err(unverified("registry data"));
        }
        self.routing.publish_tenant(&record.slug).await?;
        Ok(PurgeReport {
            slug: record.slug.clone(),
            storage_removed,
            media_removed,
            domains_removed,
            verified: true,
        })
    }

    /// Changes a tenant's display name and/or status (active ↔ suspended).
    pub async fn update(
        &self,
        slug: &Slug,
        display_name: Option<&str>,
        status: Option<TenantStatus>,
        limits: Option<&serde_json::Value>,
        actor: &Actor,
    ) -> Result<TenantRecord, ProvisionError> {
        let _one_at_a_time = self.exclusive(slug)?;
        let record = self
            .catalog
            .tenant(slug.as_str())
            .await?
            .ok_or_else(|| ProvisionError::NotFound(slug.to_string()))?;
        if let Some(to) = status.filter(|to| *to != record.status) {
            let allowed = matches!(
                (record.status, to),
                (TenantStatus::Active, TenantStatus::Suspended)
                    | (TenantStatus::Suspended, TenantStatus::Active)
            );
            if !allowed {
                return Err(ProvisionError::InvalidTransition {
                    slug: record.slug.clone(),
                    from: record.status,
                    to,
                });
            }
            self.catalog.set_status(record.id, to).await?;
            let action = if to == TenantStatus::Suspended {
                "tenant.suspend"
            } else {
                "tenant.resume"
            };
            self.audit(actor, action, &record, json!({})).await?;
        }
        if let Some(limits) = limits.filter(|l| **l != record.limits.0) {
            self.catalog.set_limits(record.id, limits).await?;
            self.audit(actor, "tenant.limits", &record, limits.clone())
                .await?;
        }
        if let Some(name) = display_name.filter(|n| *n != record.display_name) {
            self.catalog.set_display_name(record.id, name).await?;
            self.audit(
                actor,
                "tenant.rename",
                &record,
                json!({ "display_name": name }),
            )
            .await?;
        }
        self.routing.publish_tenant(&record.slug).await?;
        self.catalog
            .tenant(slug.as_str())
            .await?
            .ok_or_else(|| ProvisionError::NotFound(slug.to_string()))
    }

    /// Finishes every lifecycle transition a crash left half done.
    pub async fn reconcile(&self) -> Result<ReconcileReport, ProvisionError> {
        let mut report = ReconcileReport::default();
        let records = self.catalog.all_tenants().await?;
        for record in &records {
            let outcome = match record.status {
                TenantStatus::Provisioning => {
                    let _lock = self.locks.lock(&record.slug).await;
                    self.finish_provisioning(record)
                        .await
                        .map(|_| &mut report.provisioned)
                }
                TenantStatus::Deleting => {
                    let _lock = self.locks.lock(&record.slug).await;
                    self.purge(record).await.map(|_| &mut report.purged)
                }
                TenantStatus::Active | TenantStatus::Suspended => continue,
            };
            match outcome {
                Ok(list) => list.push(record.slug.clone()),
                Err(e) => report.failed.push((record.slug.clone(), e.to_string())),
            }
        }
        self.admit_schema_tenants(&records).await?;
        Ok(report)
    }

    /// Finishes (or rolls back) the creations and deletions that have made no progress
    /// for `stale`: those a failure left half-way (an unreachable instance or OpenBAO),
    /// not those another request or another server is running now. A tenant another
    /// operation of this process holds is skipped; its record is read again under the lock.
    pub async fn reconcile_stuck(&self, stale: std::time::Duration) -> ReconcileReport {
        let mut report = ReconcileReport::default();
        let cutoff = Utc::now() - chrono::Duration::from_std(stale).unwrap_or_default();
        let Ok(records) = self.catalog.unsettled_tenants(cutoff).await else {
            return report;
        };
        for record in records {
            let Some(_lock) = self.locks.try_lock(&record.slug) else {
                continue;
            };
            let current = match self.catalog.tenant(&record.slug).await {
                Ok(Some(current)) if current.id == record.id => current,
                _ => continue,
            };
            if current.updated_at > cutoff {
                continue;
            }
            let outcome = match current.status {
                TenantStatus::Provisioning => self
                    .finish_provisioning(&current)
                    .await
                    .map(|_| &mut report.provisioned),
                TenantStatus::Deleting => self.purge(&current).await.map(|_| &mut report.purged),
                TenantStatus::Active | TenantStatus::Suspended => continue,
            };
            match outcome {
                Ok(list) => list.push(current.slug.clone()),
                Err(e) => report.failed.push((current.slug.clone(), e.to_string())),
            }
        }
        report
    }

    /// Schema tenants from before decision 0008 are not yet reachable through their
    /// instance's router login: admit them (a membership each; nothing else changes).
    /// `records` as reconcile read them: tenants it finished provisioning were admitted
    /// when their schema was created.
    async fn admit_schema_tenants(&self, records: &[TenantRecord]) -> Result<(), ProvisionError> {
        if self.storage.tenant_roles() != TenantRoles::Own {
            return Ok(());
        }
        let mut by_instance: BTreeMap<String, Vec<TenantLocation>> = BTreeMap::new();
        for record in records {
            if mode(record.isolation).logins() == Logins::Instance
                && matches!(
                    record.status,
                    TenantStatus::Active | TenantStatus::Suspended
                )
            {
                let loc = location(record)?;
                by_instance
                    .entry(loc.instance.clone())
                    .or_default()
                    .push(loc);
            }
        }
        for (instance, tenants) in &by_instance {
            match self.storage.admit_to_router(instance, tenants).await {
                Ok(admitted) => {
                    for loc in admitted {
                        tracing::info!(tenant = %loc.slug, "schema tenant admitted to its instance's router role");
                    }
                }
                // Their requests fail until the next reconcile; the rest of the start goes on.
                Err(e) => {
                    tracing::error!(%instance, tenants = tenants.len(), error = %e, "could not admit schema tenants to the router role")
                }
            }
        }
        Ok(())
    }

    /// Records a finished step, then passes its crash point.
    async fn step(&self, record: &TenantRecord, step: Step) -> Result<(), CatalogError> {
        self.catalog
            .set_step(record.id, Some(step.as_str()))
            .await?;
        crash_point(step);
        Ok(())
    }

    /// The tenant's lifecycle lock, or 409 `tenant_busy` while another operation holds it.
    fn exclusive(&self, slug: &Slug) -> Result<tokio::sync::OwnedMutexGuard<()>, ProvisionError> {
        self.locks
            .try_lock(slug.as_str())
            .ok_or_else(|| ProvisionError::Busy(slug.to_string()))
    }

    async fn refuse_taken(&self, slug: &Slug) -> Result<(), ProvisionError> {
        match self.catalog.tenant(slug.as_str()).await? {
            Some(existing) if existing.status == TenantStatus::Deleting => {
                Err(ProvisionError::Deleting(slug.to_string()))
            }
            Some(_) => Err(ProvisionError::Exists(slug.to_string())),
            None => Ok(()),
        }
    }

    async fn audit(
        &self,
        actor: &Actor,
        action: &str,
        record: &TenantRecord,
        detail: serde_json::Value,
    ) -> Result<(), CatalogError> {
        self.catalog
            .audit(NewAuditEvent {
                actor: &actor.name,
                action,
                tenant_slug: Some(&record.slug),
                tenant_id: Some(record.id),
                request_id: actor.request_id.as_deref(),
                detail,
            })
            .await
    }
}

/// The storage location of a catalog row; a corrupt slug is no tenant.
fn location(record: &TenantRecord) -> Result<TenantLocation, ProvisionError> {
    record
        .location()
        .map_err(|_| ProvisionError::NotFound(record.slug.clone()))
}

/// The isolation modes placeable on `backend`, as a message lists them.
fn choices_on(backend: Backend) -> String {
    let names: Vec<String> = placeable_on(backend)
        .iter()
        .map(|i| format!("`{i}`"))
        .collect();
    let place = match backend {
        Backend::Sqlite => "the embedded backend",
        Backend::Postgres => "PostgreSQL",
    };
    format!("{} on {place}", names.join(" or "))
}

/// Returns once the clock has left the second `moment` fell in. The slug is freed only
/// then, so every token issued to the tenant being purged (it was refused before `moment`)
/// has an `iat` older than the creation of any later tenant of that slug, and tokens that
/// carry no tenant id are still told apart by `iat` (DESIGN.md §4, decision 0010).
async fn after_the_second_of(moment: DateTime<Utc>) {
    let next_second_ms = (moment.timestamp() + 1) * 1000;
    let wait = next_second_ms - Utc::now().timestamp_millis();
    if let Ok(wait) = u64::try_from(wait)
        && wait > 0
    {
        tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
    }
}
