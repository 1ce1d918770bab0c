//! The routing snapshot: an immutable view of everything resolution needs (tenants,
//! domains, operator keys), swapped atomically whenever the catalog changes, so that no
//! request ever queries the registry to find its tenant.

mod freshness;
mod notify;
mod resolve;

pub use freshness::{Freshness, Stale};
pub use notify::spawn_listener;
pub use resolve::{Resolution, ResolveError, TenantSource, resolve};

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use tenantry_proto::{TenantLimits, TenantStatus};
use uuid::Uuid;

use crate::catalog::{Catalog, CatalogError, TenantRecord, TrustedKeyRecord};
use crate::config::DEFAULT_PLAN;
use crate::identity::{PublicKey, TrustedKey};
use crate::limits;
use crate::names::Slug;
use crate::store::TenantLocation;

/// Plans by name.
pub type Plans = std::collections::BTreeMap<String, TenantLimits>;

/// The limits of the plan a tenant names (`None`: the default plan). A name no plan has —
/// its plan was removed while it was being assigned — falls back to the default plan, never
/// to no limits at all.
pub fn plan_limits<'p>(plans: &'p Plans, name: Option<&str>) -> Option<&'p TenantLimits> {
    match name {
        Some(name) => plans.get(name).or_else(|| {
            tracing::warn!(
                plan = name,
                "a tenant names a plan that does not exist; it gets the default plan"
            );
            plans.get(DEFAULT_PLAN)
        }),
        None => plans.get(DEFAULT_PLAN),
    }
}

/// What a request needs to know about its tenant.
#[derive(Debug, Clone)]
pub struct TenantRoute {
    pub id: Uuid,
    /// When this tenant (this incarnation of its slug) was created, in Unix seconds: no
    /// credential issued before it is accepted.
    pub created_at: i64,
    pub status: TenantStatus,
    pub location: TenantLocation,
    /// The limits enforced: its plan's, with its own over them (an unreadable value of its
    /// own counts as none; the API stores only valid ones).
    pub limits: TenantLimits,
}

impl TenantRoute {
    pub fn slug(&self) -> &Slug {
        &self.location.slug
    }

    /// Why this tenant may not be served now, unless it is active.
    pub fn refusal(&self) -> Option<resolve::ResolveError> {
        let slug = self.slug().to_string();
        match self.status {
            TenantStatus::Active => None,
            TenantStatus::Suspended => Some(resolve::ResolveError::Suspended(slug)),
            TenantStatus::Deleting => Some(resolve::ResolveError::Deleting(slug)),
            TenantStatus::Provisioning => Some(resolve::ResolveError::NotReady(slug)),
        }
    }

    fn from_record(record: &TenantRecord, plans: &Plans) -> Option<TenantRoute> {
        let location = match record.location() {
            Ok(location) => location,
            Err(e) => {
                // A corrupt row must not become routable.
                tracing::error!(slug = %record.slug, error = %e, "registry row with an invalid slug is not routable");
                return None;
            }
        };
        Some(TenantRoute {
            id: record.id,
            created_at: record.created_at.timestamp(),
            status: record.status,
            location,
            limits: limits::effective(
                plan_limits(plans, record.plan.as_deref()),
                &serde_json::from_value(record.limits.0.clone()).unwrap_or_default(),
            ),
        })
    }
}

/// An immutable view of the routing tables.
#[derive(Debug, Default)]
pub struct RoutingSnapshot {
    tenants: HashMap<String, Arc<TenantRoute>>,
    domains: HashMap<String, String>,
    operator_keys: HashSet<String>,
    /// The trust store: kid → key.
    trusted_keys: HashMap<String, TrustedKey>,
    /// Every plan: the configuration's, and those made through the API.
    plans: Arc<Plans>,
    /// Increases by one with every publish.
    pub generation: u64,
}

impl RoutingSnapshot {
    pub fn tenant(&self, slug: &str) -> Option<&Arc<TenantRoute>> {
        self.tenants.get(slug)
    }

    /// The slug a mapped domain points at.
    pub fn domain(&self, domain: &str) -> Option<&str> {
        self.domains.get(domain).map(String::as_str)
    }

    pub fn is_operator_key(&self, hash: &str) -> bool {
        self.operator_keys.contains(hash)
    }

    pub fn trusted_key(&self, kid: &str) -> Option<&TrustedKey> {
        self.trusted_keys.get(kid)
    }

    pub fn plans(&self) -> &Plans {
        &self.plans
    }

    /// Every tenant, in no particular order.
    pub fn tenants(&self) -> impl Iterator<Item = &Arc<TenantRoute>> {
        self.tenants.values()
    }

    pub fn tenant_count(&self) -> usize {
        self.tenants.len()
    }

    /// Tenants in `self` that are gone (or were re-created under a new id) in `newer`.
    pub fn removed_in(&self, newer: &RoutingSnapshot) -> Vec<Uuid> {
        self.tenants
            .values()
            .filter(|r| {
                newer
                    .tenants
                    .get(r.slug().as_str())
                    .is_none_or(|n| n.id != r.id)
            })
            .map(|r| r.id)
            .collect()
    }
}

/// A trust store row as a verifier; a row that no longer parses is left out, loudly.
fn trusted_key(record: &TrustedKeyRecord) -> Option<(String, TrustedKey)> {
    let parsed = PublicKey::from_pem(&record.public_key)
        .map_err(|e| e.to_string())
        .and_then(|public| {
            TrustedKey::new(&public, record.tenant.clone()).map_err(|e| e.to_string())
        });
    match parsed {
        Ok(key) => Some((record.kid.clone(), key)),
        Err(e) => {
            tracing::error!(kid = %record.kid, error = %e, "trusted key does not parse; tokens signed with it are refused");
            None
        }
    }
}

/// Publishes routing snapshots.
pub struct Routing {
    current: ArcSwap<RoutingSnapshot>,
    catalog: Catalog,
    /// The hash of `admin.api_key`, if configured; held only in memory.
    configured_key: Option<String>,
    /// The configuration's plans (`plans.<name>`); those made through the API are read
    /// from the registry with everything else.
    config_plans: Plans,
    generation: AtomicU64,
    /// Full re-reads of the catalog, for `/metrics`.
    full_reloads: AtomicU64,
    /// Serialises reloads so a slower, older read never replaces a newer snapshot.
    reload: tokio::sync::Mutex<()>,
    /// When the snapshot was last known current (see [`freshness`]).
    pub freshness: Freshness,
}

impl Routing {
    pub async fn load(
        catalog: Catalog,
        configured_key: Option<String>,
        config_plans: Plans,
    ) -> Result<Routing, CatalogError> {
        let routing = Routing {
            current: ArcSwap::from_pointee(RoutingSnapshot::default()),
            catalog,
            configured_key,
            config_plans,
            generation: AtomicU64::new(0),
            full_reloads: AtomicU64::new(0),
            reload: tokio::sync::Mutex::new(()),
            freshness: Freshness::default(),
        };
        routing.reload().await?;
        Ok(routing)
    }

    /// Full re-reads of the catalog so far (start, safety net, other processes' changes).
    pub fn full_reloads(&self) -> u64 {
        self.full_reloads.load(Ordering::Relaxed)
    }

    /// What this process's change announcements carry (see [`notify`]).
    pub fn origin(&self) -> &str {
        self.catalog.origin()
    }

    /// The current snapshot; cheap, lock-free.
    pub fn snapshot(&self) -> Arc<RoutingSnapshot> {
        self.current.load_full()
    }

    /// The snapshot to decide a request by: refused when it may be out of date.
    pub fn current(&self) -> Result<Arc<RoutingSnapshot>, Stale> {
        self.freshness.check()?;
        Ok(self.snapshot())
    }

    /// Reads the catalog and publishes a new snapshot.
    pub async fn reload(&self) -> Result<(), CatalogError> {
        let _serial = self.reload.lock().await;
        self.full_reloads.fetch_add(1, Ordering::Relaxed);
        let began = self.freshness.stamp();
        let tenants = self.catalog.all_tenants().await?;
        let domains = self.catalog.all_domains().await?;
        let trusted_keys = self.catalog.trusted_keys().await?;
        let mut plans = Plans::new();
        for stored in self.catalog.plans().await? {
            match serde_json::from_value(stored.limits.0) {
                Ok(limits) => {
                    plans.insert(stored.name, limits);
                }
                // The API stores only valid limits; a row changed by hand is left out.
                Err(e) => {
                    tracing::error!(plan = %stored.name, error = %e, "stored plan does not parse; its tenants get the default plan")
                }
            }
        }
        // The configuration's plans win: the API cannot make one of their names.
        plans.extend(self.config_plans.clone());
        let mut operator_keys: HashSet<String> =
            self.catalog.api_key_hashes().await?.into_iter().collect();
        operator_keys.extend(self.configured_key.iter().cloned());

        let snapshot = RoutingSnapshot {
            tenants: tenants
                .iter()
                .filter_map(|r| TenantRoute::from_record(r, &plans))
                .map(|r| (r.slug().as_str().to_owned(), Arc::new(r)))
                .collect(),
            plans: Arc::new(plans),
            domains: domains.into_iter().collect(),
            operator_keys,
            trusted_keys: trusted_keys.iter().filter_map(trusted_key).collect(),
            generation: self.generation.fetch_add(1, Ordering::Relaxed) + 1,
        };
        self.current.store(Arc::new(snapshot));
        self.freshness.confirm_as_of(began);
        Ok(())
    }

    /// Reloads after a change this process made, and tells every other server process on
    /// the same registry to reload too (PostgreSQL `NOTIFY`; nothing to tell on SQLite).
    pub async fn publish(&self) -> Result<(), CatalogError> {
        self.reload().await?;
        self.catalog.notify_routing_changed().await
    }

    /// Like [`Self::publish`] after a change to one tenant, without re-reading every
    /// tenant: only its row is read and swapped into a copy of the snapshot.
    pub async fn publish_tenant(&self, slug: &str) -> Result<(), CatalogError> {
        {
            let _serial = self.reload.lock().await;
            let record = self.catalog.tenant(slug).await?;
            let current = self.current.load_full();
            let mut tenants = current.tenants.clone();
            let mut domains = current.domains.clone();
            let mut trusted_keys = current.trusted_keys.clone();
            match record
                .as_ref()
                .and_then(|r| TenantRoute::from_record(r, &current.plans))
            {
                Some(route) => {
                    tenants.insert(slug.to_owned(), Arc::new(route));
                }
                None => {
                    tenants.remove(slug);
                    domains.retain(|_, owner| owner != slug);
                    trusted_keys.retain(|_, key| key.tenant.as_deref() != Some(slug));
                }
            }
            self.current.store(Arc::new(RoutingSnapshot {
                tenants,
                domains,
                trusted_keys,
                operator_keys: current.operator_keys.clone(),
                plans: Arc::clone(&current.plans),
                generation: self.generation.fetch_add(1, Ordering::Relaxed) + 1,
            }));
        }
        self.catalog.notify_routing_changed().await
    }

    /// Reloads every `interval` as a safety net against missed change notifications.
    pub fn spawn_periodic_reload(
        self: &Arc<Self>,
        interval: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let routing = Arc::clone(self);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                if let Err(e) = routing.reload().await {
                    tracing::warn!(error = %e, "periodic routing reload failed; keeping the last snapshot");
                }
            }
        })
    }
}
