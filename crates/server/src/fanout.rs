//! `tenantry migrate`: registry, then shared, then the tenant chain on the template and on
//! every tenant, with bounded concurrency. One tenant failing does not stop the others.

use futures_util::StreamExt;
use futures_util::stream;
use tenantry_proto::TenantStatus;

use crate::catalog::TenantRecord;
use crate::core::Core;
use crate::migrator::{
    Chain, ChainState, MigrateFailure, apply_on, apply_tenant, state_on, tenant_state,
};
use crate::names::Slug;
use crate::store::isolation::{Pooling, mode};
use crate::store::{Db, PoolSettings};

/// Which databases to look at, and whether to change them.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Apply the registry and shared chains.
    pub registry: bool,
    /// Apply the tenant chain to templates and tenants.
    pub tenants: bool,
    /// Only these tenants (and no template); empty means all.
    pub only: Vec<Slug>,
    /// Report, change nothing.
    pub dry_run: bool,
    /// Connect to up-to-date tenants too instead of trusting the recorded version.
    pub verify: bool,
    pub concurrency: usize,
}

/// What happened to one database.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// `registry`, `shared`, `template`, or `tenant <slug>`.
    pub target: String,
    pub chain: Chain,
    pub before: Option<ChainState>,
    pub after: Option<ChainState>,
    /// Up to date by the registry's record; not connected to.
    pub skipped: bool,
    pub error: Option<String>,
}

impl Outcome {
    fn failed(target: String, chain: Chain, error: impl ToString) -> Outcome {
        Outcome {
            target,
            chain,
            before: None,
            after: None,
            skipped: false,
            error: Some(error.to_string()),
        }
    }
}

/// Told about each database as the run goes (progress bars or plain lines).
pub trait Progress: Send + Sync {
    fn planned(&self, _total: usize) {}
    fn started(&self, _target: &str, _chain: Chain) {}
    fn finished(&self, _outcome: &Outcome) {}
}

/// Reports nothing.
pub struct Quiet;
impl Progress for Quiet {}

/// Runs the plan. The outcomes list every database looked at, failures included.
pub async fn run(core: &Core, plan: &Plan, progress: &dyn Progress) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    let collapsed = !core.config.multitenancy.enabled;

    if plan.registry {
        let mut chains = vec![Chain::Registry, Chain::Shared];
        if collapsed {
            chains.push(Chain::Tenant);
        }
        for chain in chains {
            let target = chain.as_str().to_owned();
            progress.started(&target, chain);
            let db = if chain == Chain::Shared {
                &core.shared
            } else {
                &core.registry
            };
            let outcome = one(&target, chain, db, core, plan.dry_run).await;
            progress.finished(&outcome);
            let failed = outcome.error.is_some();
            if chain == Chain::Tenant && !plan.dry_run && !failed {
                record_collapsed_default(core, &outcome).await;
            }
            outcomes.push(outcome);
            if failed {
                // Nothing downstream can be trusted without a current registry.
                return outcomes;
            }
        }
    } else if !plan.dry_run {
        match registry_state(core).await {
            Ok(s) if s.is_current() => {}
            Ok(_) => {
                outcomes.push(Outcome::failed(
                    "registry".into(),
                    Chain::Registry,
                    "the registry chain has pending migrations; migrate it first (drop --tenants-only)",
                ));
                return outcomes;
            }
            Err(e) => {
                outcomes.push(Outcome::failed("registry".into(), Chain::Registry, e));
                return outcomes;
            }
        }
    }

    if !plan.tenants {
        return outcomes;
    }
    if !collapsed && plan.only.is_empty() {
        for outcome in templates(core, plan.dry_run, progress).await {
            outcomes.push(outcome);
        }
    }

    let records = match core.catalog.all_tenants().await {
        Ok(records) => records,
        Err(e) => {
            outcomes.push(Outcome::failed("registry".into(), Chain::Registry, e));
            return outcomes;
        }
    };
    let mut selected: Vec<TenantRecord> = Vec::new();
    for slug in &plan.only {
        if !records.iter().any(|r| r.slug == slug.as_str()) {
            outcomes.push(Outcome::failed(
                format!("tenant {slug}"),
                Chain::Tenant,
                "no such tenant",
            ));
        }
    }
    for record in records {
        let wanted = plan.only.is_empty() || plan.only.iter().any(|s| s.as_str() == record.slug);
        let live = matches!(
            record.status,
            TenantStatus::Active | TenantStatus::Suspended
        );
        // A tenant in the registry moves with the registry chain.
        let in_registry = mode(record.isolation).pooling() == Pooling::Registry;
        if wanted && live && !(collapsed && in_registry) {
            selected.push(record);
        }
    }
    progress.planned(selected.len());
    let latest = core.chains.latest(Chain::Tenant);
    let tenant_outcomes: Vec<Outcome> = stream::iter(selected)
        .map(|record| async move {
            let target = format!("tenant {}", record.slug);
            if !plan.verify && record.tenant_chain_version == Some(latest) {
                let outcome = Outcome {
                    target,
                    chain: Chain::Tenant,
                    before: None,
                    after: None,
                    skipped: true,
                    error: None,
                };
                progress.finished(&outcome);
                return outcome;
            }
            progress.started(&target, Chain::Tenant);
            let outcome = tenant(core, &record, target, plan.dry_run).await;
            progress.finished(&outcome);
            outcome
        })
        .buffer_unordered(plan.concurrency.max(1))
        .collect()
        .await;
    outcomes.extend(tenant_outcomes);
    outcomes
}

async fn registry_state(core: &Core) -> Result<ChainState, MigrateFailure> {
    let mut conn = core.registry.acquire().await?;
    state_on(&mut conn, &core.chains, Chain::Registry, None).await
}

fn outcome(
    target: String,
    chain: Chain,
    result: Result<(ChainState, ChainState), impl ToString>,
) -> Outcome {
    match result {
        Ok((before, after)) => Outcome {
            target,
            chain,
            before: Some(before),
            after: Some(after),
            skipped: false,
            error: None,
        },
        Err(e) => Outcome::failed(target, chain, e),
    }
}

async fn one(target: &str, chain: Chain, db: &Db, core: &Core, dry_run: bool) -> Outcome {
    let result = async {
        let mut conn = db.acquire().await?;
        if dry_run {
            state_on(&mut conn, &core.chains, chain, None)
                .await
                .map(|s| (s.clone(), s))
        } else {
            apply_on(&mut conn, &core.chains, chain, None).await
        }
    }
    .await;
    outcome(target.to_owned(), chain, result)
}

/// The file template, or every instance's `tenantry_template`.
async fn templates(core: &Core, dry_run: bool, progress: &dyn Progress) -> Vec<Outcome> {
    if !core.config.is_postgres() {
        progress.started("template", Chain::Tenant);
        let o = outcome(
            "template".into(),
            Chain::Tenant,
            core.templates.migrate_file(&core.storage, dry_run).await,
        );
        progress.finished(&o);
        return vec![o];
    }
    let mut outcomes = Vec::new();
    for instance in core.storage.instances() {
        let target = format!("template {}", instance.name);
        progress.started(&target, Chain::Tenant);
        let o = outcome(
            target,
            Chain::Tenant,
            core.templates
                .migrate_instance(&core.storage, instance, dry_run)
                .await,
        );
        progress.finished(&o);
        outcomes.push(o);
    }
    outcomes
}

async fn tenant(core: &Core, record: &TenantRecord, target: String, dry_run: bool) -> Outcome {
    let loc = match record.location() {
        Ok(loc) => loc,
        Err(e) => return Outcome::failed(target, Chain::Tenant, e),
    };
    let one_connection = PoolSettings {
        max_connections: 1,
        ..core.pool_settings()
    };
    let db = match core.storage.open(&loc, Some(one_connection)).await {
        Ok(db) => db,
        Err(e) => return Outcome::failed(target, Chain::Tenant, e),
    };
    let result = if dry_run {
        tenant_state(&db, &core.chains)
            .await
            .map(|s| (s.clone(), s))
    } else {
        apply_tenant(&db, &core.chains).await
    };
    core.storage.release(&loc, db).await;
    let result = outcome(target.clone(), Chain::Tenant, result);
    if !dry_run
        && let Some(after) = &result.after
        && let Err(e) = core
            .catalog
            .record_version(record.id, Chain::Tenant, after.current)
            .await
    {
        return Outcome::failed(target, Chain::Tenant, e);
    }
    result
}

/// With multi-tenancy off the built-in tenant's tables live in the registry database;
/// its recorded version follows the registry's tenant chain.
async fn record_collapsed_default(core: &Core, outcome: &Outcome) {
    let Some(after) = &outcome.after else { return };
    match core.catalog.tenant(crate::names::DEFAULT_TENANT).await {
        Ok(Some(record)) => {
            if let Err(e) = core
                .catalog
                .record_version(record.id, Chain::Tenant, after.current)
                .await
            {
                tracing::warn!(error = %e, "could not record the built-in tenant's version");
            }
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "could not read the built-in tenant"),
    }
}
