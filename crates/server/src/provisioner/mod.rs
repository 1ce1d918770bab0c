//! The provisioner: creating a tenant, and deleting it with a verified purge.
//!
//! Both are recorded sequences of idempotent steps. The registry row is written first
//! (`provisioning`) and removed last (after `deleting` and a verified purge), so a crash at
//! any step leaves a row that the next start or `tenants reconcile` finishes.

pub mod bootstrap;
mod create;
mod locks;
mod purge;
mod reconcile;
pub mod steps;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;
use tenantry_proto::{Isolation, PurgeReport, TenantStatus};
use uuid::Uuid;

use crate::cache::{Cache, CacheError};
use crate::catalog::{Catalog, CatalogError, NewAuditEvent, NewTenant, TenantRecord};
use crate::core::Core;
use crate::media::{Media, MediaError};
use crate::migrator::{self, Chain, Chains, MigrateFailure};
use crate::names::Slug;
use crate::pools::TenantPools;
use crate::routing::Routing;
use crate::scheduler::{self, Candidate, Constraint, NoMatch};
use crate::store::credentials::{CredentialSource, TenantRoles};
use crate::store::isolation::{AvailableOn, Logins, mode, placeable_on};
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
    Cache(#[from] CacheError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("tenant chain migration failed: {0}")]
    Migrate(#[from] MigrateFailure),
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error(transparent)]
    NoInstance(#[from] NoMatch),
    #[error("isolation `{0}` is not available here; use {1}")]
    IsolationUnsupported(Isolation, String),
}

/// A status that changed under a guarded transition: another lifecycle operation won.
fn busy_if_changed(e: CatalogError, slug: &str) -> ProvisionError {
    match e {
        CatalogError::StatusChanged => ProvisionError::Busy(slug.to_owned()),
        e => e.into(),
    }
}

/// What `update` changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct TenantChanges<'a> {
    pub display_name: Option<&'a str>,
    pub status: Option<TenantStatus>,
    pub limits: Option<&'a serde_json::Value>,
    pub plan: Option<&'a str>,
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
    /// Redis, when configured: the tenant's keys go with it.
    cache: Option<Arc<Cache>>,
    media: Arc<Media>,
    broker: Arc<dyn CredentialSource>,
    chains: Arc<Chains>,
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
            cache: core.cache.clone(),
            media: Arc::clone(&core.media),
            broker: Arc::clone(&core.broker),
            chains: Arc::clone(&core.chains),
            default_isolation: core.config.isolation.default,
            locks: TenantLocks::new(core.catalog.clone()),
        }
    }

    /// Changes a tenant's display name, status (active ↔ suspended), limits or plan.
    pub async fn update(
        &self,
        slug: &Slug,
        changes: &TenantChanges<'_>,
        actor: &Actor,
    ) -> Result<TenantRecord, ProvisionError> {
        self.exclusively(slug, async || {
            self.update_locked(slug, changes, actor).await
        })
        .await
    }

    async fn update_locked(
        &self,
        slug: &Slug,
        changes: &TenantChanges<'_>,
        actor: &Actor,
    ) -> Result<TenantRecord, ProvisionError> {
        let TenantChanges {
            display_name,
            status,
            limits,
            plan,
        } = *changes;
        let record = self.record(slug).await?;
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
            self.catalog
                .set_status(record.id, record.status, to)
                .await
                .map_err(|e| busy_if_changed(e, &record.slug))?;
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
        if let Some(plan) = plan.filter(|p| Some(*p) != record.plan.as_deref()) {
            self.catalog.set_plan(record.id, plan).await?;
            self.audit(actor, "tenant.plan", &record, json!({ "plan": plan }))
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

    /// Records a finished step, then passes its crash point.
    async fn step(&self, record: &TenantRecord, step: Step) -> Result<(), CatalogError> {
        self.catalog
            .set_step(record.id, Some(step.as_str()))
            .await?;
        crash_point(step);
        Ok(())
    }

    /// Runs `work` holding the tenant's lifecycle lock, or answers 409 `tenant_busy` while
    /// another operation holds it, in this process or on another server.
    async fn exclusively<T>(
        &self,
        slug: &Slug,
        work: impl AsyncFnOnce() -> Result<T, ProvisionError>,
    ) -> Result<T, ProvisionError> {
        let held = self
            .locks
            .try_lock(slug)
            .await?
            .ok_or_else(|| ProvisionError::Busy(slug.to_string()))?;
        let outcome = work().await;
        held.release().await;
        outcome
    }

    /// The tenant's catalog row, or `NotFound`.
    async fn record(&self, slug: &Slug) -> Result<TenantRecord, ProvisionError> {
        self.catalog
            .tenant(slug.as_str())
            .await?
            .ok_or_else(|| ProvisionError::NotFound(slug.to_string()))
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
