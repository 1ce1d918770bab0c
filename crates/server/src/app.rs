//! Building and running the server: everything is opened, migrated and checked before the
//! listener is bound, so a server that listens is a server that works.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::catalog::CatalogError;
use crate::config::{Config, ConfigError};
use crate::core::{Core, OpenError};
use crate::fanout::{self, Plan, Progress};
use crate::http::{self, AppState};
use crate::identity::server_key::ServerKeyError;
use crate::migrator::{Chain, MigrateFailure, state_on};
use crate::pools::TenantPools;
use crate::provisioner::{ProvisionError, Provisioner};
use crate::routing::Routing;
use crate::secret::Secret;
use crate::secret::api_key;
use crate::store::Backend;
use crate::store::isolation::AvailableOn;
use crate::tls::{Certificates, TlsError, TlsListener, TlsPeer};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("migrating {target} failed: {error}")]
    Migration { target: String, error: String },
    #[error(
        "the {0} chain has pending migrations and migrations.on_start is false; run `tenantry migrate` first"
    )]
    PendingMigrations(Chain),
    #[error("registry: {0}")]
    Registry(#[from] CatalogError),
    #[error("reading the registry's migration state: {0}")]
    RegistryChain(#[from] MigrateFailure),
    #[error("the server's signing key: {0}")]
    ServerKey(#[from] ServerKeyError),
    #[error("cannot create the operator API key: {0}")]
    KeyGeneration(String),
    #[error("the built-in tenant: {0}")]
    DefaultTenant(#[from] ProvisionError),
    #[error("instance `{name}` (instances.{name}.url): {source}")]
    Instance { name: String, source: sqlx::Error },
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cache.url: {0}")]
    Cache(crate::cache::CacheError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A built server, bound and ready to run.
pub struct Server {
    listener: TcpListener,
    /// With `server.tls`: the certificate served, reloaded while the server runs.
    tls: Option<Arc<Certificates>>,
    state: AppState,
    /// A key created on this start because none existed; shown once, then forgotten.
    pub new_operator_key: Option<Secret>,
}

impl Server {
    pub async fn build(config: Config, progress: &dyn Progress) -> Result<Server, StartError> {
        config.validate()?;
        for variable in &config.ignored_env {
            tracing::warn!(%variable, "environment variable with the TENANTRY_ prefix is no configuration key; ignored");
        }
        let addr = config.server.listen_addr()?;
        // A certificate that cannot be served stops the start before anything is opened.
        let tls = match &config.server.tls {
            Some(tls) => Some(Arc::new(Certificates::load(
                tls,
                &config.data_dir,
                &certificate_names(addr),
            )?)),
            None => None,
        };
        let core = Core::open(config).await?;
        check_instances(&core).await?;
        if let Some(cache) = &core.cache {
            cache.probe().await.map_err(StartError::Cache)?;
        }
        let multitenancy = core.config.multitenancy.enabled;
        if core.config.is_postgres() && multitenancy && core.config.vault.is_none() {
            tracing::warn!(
                "allow_shared_credentials: true — every tenant pool connects with its instance's own \
                 credentials; a tenant database is not protected by a login of its own. Configure \
                 vault (OpenBAO) for per-tenant credentials."
            );
        }

        if core.config.migrations.on_start {
            let plan = Plan {
                registry: true,
                tenants: false,
                only: Vec::new(),
                dry_run: false,
                verify: false,
                concurrency: core.config.migrations.concurrency,
            };
            fail_on_error(fanout::run(&core, &plan, progress).await)?;
        } else {
            for chain in [Chain::Registry, Chain::Shared] {
                let db = if chain == Chain::Shared {
                    &core.shared
                } else {
                    &core.registry
                };
                let mut conn = db.acquire().await.map_err(MigrateFailure::from)?;
                let s = state_on(&mut conn, &core.chains, chain, None).await?;
                if !s.is_current() {
                    return Err(StartError::PendingMigrations(chain));
                }
            }
        }

        if !multitenancy && core.catalog.count_non_default().await? > 0 {
            return Err(ConfigError::invalid(
                "multitenancy.enabled",
                "this data directory holds tenants besides `default`; it cannot run with multi-tenancy off",
            )
            .into());
        }

        for record in core.catalog.all_tenants().await? {
            let placed = record.isolation.available_on(Backend::Postgres);
            if placed && core.storage.instance(&record.instance).is_err() {
                return Err(ConfigError::invalid(
                    format!("instances.{}", record.instance),
                    format!(
                        "tenant {} is placed on instance `{}`, which is not configured",
                        record.slug, record.instance
                    ),
                )
                .into());
            }
        }

        let configured_key = core
            .config
            .admin
            .api_key
            .as_ref()
            .map(|k| api_key::hash(k.expose()));
        let mut new_operator_key = None;
        if configured_key.is_none() && core.catalog.api_key_hashes().await?.is_empty() {
            let key = api_key::generate().map_err(|e| StartError::KeyGeneration(e.to_string()))?;
            core.catalog
                .insert_api_key(&api_key::hash(key.expose()), "created on first start")
                .await?;
            new_operator_key = Some(key);
        }

        let signer = crate::identity::server_key::load_or_create(core.layout.root())?;
        if !core
            .catalog
            .trusted_keys()
            .await?
            .iter()
            .any(|k| k.kid == signer.public.kid)
        {
            core.catalog
                .insert_trusted_key(
                    &signer.public.kid,
                    signer.public.alg.as_str(),
                    &signer.public.pem,
                    None,
                    "tenantry server",
                )
                .await?;
        }

        let routing = Arc::new(
            Routing::load(
                core.catalog.clone(),
                configured_key,
                core.config.plans.clone(),
            )
            .await?,
        );
        let pools = Arc::new(TenantPools::new(
            Arc::clone(&core.storage),
            Arc::clone(&core.broker),
            &core.config.pools,
        ));
        let provisioner = Arc::new(Provisioner::new(
            &core,
            Arc::clone(&routing),
            Arc::clone(&pools),
        ));

        log_reconciled(&provisioner.reconcile().await?);

        if core.config.migrations.on_start {
            let plan = Plan {
                registry: false,
                tenants: true,
                only: Vec::new(),
                dry_run: false,
                verify: false,
                concurrency: core.config.migrations.concurrency,
            };
            // A broken tenant must not keep the others offline: report it and serve.
            for o in fanout::run(&core, &plan, progress).await {
                if let Some(error) = o.error {
                    tracing::error!(target_db = %o.target, %error, "tenant migration failed at start");
                }
            }
        }
        let default = provisioner.ensure_default(!multitenancy).await?;
        tracing::debug!(tenant = %default.slug, status = %default.status, "built-in tenant ready");
        routing.reload().await?;

        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        let state = AppState::new(
            Arc::new(signer),
            Arc::new(core),
            routing,
            pools,
            provisioner,
        );
        Ok(Server {
            listener,
            tls,
            state,
            new_operator_key,
        })
    }

    pub fn local_addr(&self) -> Result<SocketAddr, std::io::Error> {
        self.listener.local_addr()
    }

    /// The development CA's file and fingerprint, with `server.tls.self_signed`.
    pub fn development_ca(&self) -> Result<Option<(std::path::PathBuf, String)>, TlsError> {
        match &self.tls {
            Some(certs) => certs.development_ca(),
            None => Ok(None),
        }
    }

    /// `https` when the server serves TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// Serves until `shutdown` completes, then closes every pool.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), std::io::Error> {
        let reload = self
            .state
            .routing
            .spawn_periodic_reload(self.state.core.config.routing.reload_interval.as_duration());
        let listener = crate::routing::spawn_listener(
            &self.state.core.registry,
            Arc::clone(&self.state.routing),
            Arc::clone(&self.state.pools),
            self.state.core.config.routing.max_staleness.as_duration(),
        );
        let renewal = self.state.core.broker.spawn_upkeep();
        let reconcile = spawn_reconcile(
            Arc::clone(&self.state.provisioner),
            self.state
                .core
                .config
                .lifecycle
                .reconcile_interval
                .as_duration(),
        );
        let router = router(&self.state);
        let result = match &self.tls {
            Some(certs) => {
                let reloader = certs.spawn_reloader(CERTIFICATE_CHECK);
                let listener = TlsListener::new(self.listener, Arc::clone(certs))?;
                let router = router.layer(axum::middleware::from_fn(https_only));
                let served = axum::serve(
                    listener,
                    router.into_make_service_with_connect_info::<TlsPeer>(),
                )
                .with_graceful_shutdown(shutdown)
                .await;
                reloader.abort();
                served
            }
            None => {
                axum::serve(self.listener, router)
                    .with_graceful_shutdown(shutdown)
                    .await
            }
        };
        // Requests whose clients hung up may still be running: let them finish.
        self.state.in_flight.wait_idle().await;
        reload.abort();
        reconcile.abort();
        if let Some(renewal) = renewal {
            renewal.abort();
        }
        if let Some(listener) = listener {
            listener.abort();
        }
        self.state.pools.close_all().await;
        self.state.core.close().await;
        result
    }
}

/// What a self-signed certificate is for: loopback, the listen address when it names one,
/// and this machine's hostname.
fn certificate_names(addr: SocketAddr) -> Vec<String> {
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if !addr.ip().is_unspecified() && !addr.ip().is_loopback() {
        names.push(addr.ip().to_string());
    }
    if let Ok(host) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let host = host.trim();
        if !host.is_empty() && !names.iter().any(|n| n == host) {
            names.push(host.to_owned());
        }
    }
    names
}

/// How often the certificate files are looked at for a change.
const CERTIFICATE_CHECK: std::time::Duration = std::time::Duration::from_secs(2);

/// With TLS on, every request came over HTTPS: it is marked so, as a TLS-terminating proxy
/// would (the UI's cookies become `Secure`), and every answer tells browsers to stay on
/// HTTPS (HSTS).
async fn https_only(
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::HeaderValue;
    req.headers_mut()
        .insert("x-forwarded-proto", HeaderValue::from_static("https"));
    let mut response = next.run(req).await;
    response.headers_mut().insert(
        axum::http::header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000"),
    );
    response
}

/// Every `interval`, finishes what a failure left half-way for at least that long: a
/// creation rolled back against an unreachable instance is purged once it answers again,
/// without anyone calling reconcile.
fn spawn_reconcile(
    provisioner: Arc<Provisioner>,
    interval: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            log_reconciled(&provisioner.reconcile_stuck(interval).await);
        }
    })
}

/// Every instance is tried once, all at a time. One that is down may come back and must not
/// keep the others' tenants offline: it is logged and the server starts. One whose
/// certificate, login or database is refused will not come back by itself: the start stops
/// and names it.
async fn check_instances(core: &Core) -> Result<(), StartError> {
    use crate::store::instances::ProbeError;
    let timeout = core.config.pools.acquire_timeout.as_duration();
    let probes = core
        .storage
        .instances()
        .map(|instance| async move { (instance, instance.probe(timeout).await) });
    for (instance, outcome) in futures_util::future::join_all(probes).await {
        match outcome {
            Ok(()) => {}
            Err(ProbeError::Refused(source)) => {
                return Err(StartError::Instance {
                    name: instance.name.clone(),
                    source,
                });
            }
            Err(error) => {
                tracing::warn!(instance = %instance.name, %error, "instance unavailable at start; its tenants answer 503 until it is back");
            }
        }
    }
    Ok(())
}

fn log_reconciled(report: &crate::provisioner::ReconcileReport) {
    for slug in &report.provisioned {
        tracing::info!(tenant = %slug, "finished an interrupted creation");
    }
    for slug in &report.purged {
        tracing::info!(tenant = %slug, "finished an interrupted purge");
    }
    for (slug, error) in &report.failed {
        tracing::error!(tenant = %slug, %error, "could not finish an interrupted lifecycle step; retrying later");
    }
}

fn fail_on_error(outcomes: Vec<fanout::Outcome>) -> Result<(), StartError> {
    match outcomes.into_iter().find(|o| o.error.is_some()) {
        Some(o) => Err(StartError::Migration {
            target: o.target,
            error: o.error.unwrap_or_default(),
        }),
        None => Ok(()),
    }
}

/// The API and the UI beside it (the UI calls the API in process, with the request id the
/// outer layer gave), under the layers every request passes.
pub fn router(state: &AppState) -> axum::Router {
    let api = http::api_router(state.clone());
    let ui = crate::ui::routes(state.clone(), api.clone())
        .layer(axum::middleware::from_fn(http::refuse_nul_in_uri));
    http::outer_layers(api.merge(ui), state)
}
