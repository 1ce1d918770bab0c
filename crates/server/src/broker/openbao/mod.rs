//! The OpenBAO broker: one short-lived PostgreSQL login per tenant from the database
//! secrets engine, held in memory and renewed in the background.
//!
//! - Each tenant has an OpenBAO role `tenant-<slug>` whose generated login roles only join
//!   the tenant's NOLOGIN group role `t_<slug>_rw` (which owns its objects) and act as it.
//! - The request path only reads the in-memory lease; OpenBAO is called when a tenant is
//!   first opened, by the renewal task, and on an authentication failure (once).
//! - A lease is renewed at about two thirds of its TTL. When renewing can no longer give a
//!   full TTL (its maximum is near), a fresh lease replaces it while the old one still has
//!   at least a third of a TTL to live; pools swap their connect options and recycle their
//!   connections within a quarter TTL, so no connection outlives its login role.

pub mod client;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tenantry_proto::Isolation;

use self::client::{BaoAuth, BaoClient, BaoError, DbLease};
use super::{BrokerError, Credentials};
use crate::config::{VaultAuth, VaultConfig};
use crate::routing::TenantLocation;
use crate::store::sql::{quote_ident, quote_literal};

/// Where `provision-bootstrap` keeps an instance's provisioner login in KV.
pub fn instance_secret_path(instance: &str) -> String {
    format!("tenantry/instances/{instance}")
}

impl From<BaoError> for BrokerError {
    fn from(e: BaoError) -> Self {
        if e.is_unavailable() {
            BrokerError::Unavailable(e.to_string())
        } else {
            BrokerError::Failed(e.to_string())
        }
    }
}

/// A lease the broker holds for one tenant.
struct Held {
    /// The OpenBAO role it came from (`tenant-<slug>`).
    role: String,
    lease_id: String,
    credentials: Credentials,
    born: Instant,
    expires: Instant,
    renew_at: Instant,
}

/// Counters for `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct BrokerStats {
    pub calls: u64,
    pub leases: u64,
    pub renewals: u64,
    pub rotations: u64,
}

pub struct OpenBaoBroker {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for OpenBaoBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenBaoBroker")
            .field("mount", &self.inner.mount)
            .finish_non_exhaustive()
    }
}

struct Inner {
    client: BaoClient,
    mount: String,
    kv_mount: String,
    ttl: Duration,
    max_ttl: Duration,
    leases: std::sync::Mutex<HashMap<String, Held>>,
    /// One lease fetched at a time, so two first requests do not lease twice.
    fetching: tokio::sync::Mutex<()>,
    /// Counts credentials issued; pools compare it to know when to look again.
    generations: AtomicU64,
    renewals: AtomicU64,
    rotations: AtomicU64,
    /// When the server's own token is next renewed (`None`: it never expires).
    token_renew_at: std::sync::Mutex<Option<Instant>>,
}

impl OpenBaoBroker {
    /// Logs in to OpenBAO. Fails when it cannot be reached or refuses the login.
    pub async fn connect(config: &VaultConfig) -> Result<OpenBaoBroker, BrokerError> {
        let auth = match config.auth {
            VaultAuth::Token => BaoAuth::Token(
                config
                    .token
                    .clone()
                    .ok_or_else(|| BrokerError::Failed("vault.token is not set".into()))?,
            ),
            VaultAuth::Approle => BaoAuth::AppRole {
                role_id: config.role_id.clone().unwrap_or_default(),
                secret_id: config
                    .secret_id
                    .clone()
                    .ok_or_else(|| BrokerError::Failed("vault.secret_id is not set".into()))?,
            },
        };
        let client = BaoClient::new(&config.url, auth)?;
        let token = client.login().await?;
        let broker = OpenBaoBroker {
            inner: Arc::new(Inner {
                client,
                mount: config.mount.clone(),
                kv_mount: config.kv_mount.clone(),
                ttl: config.lease_ttl.as_duration(),
                max_ttl: config.lease_max_ttl.as_duration(),
                leases: std::sync::Mutex::new(HashMap::new()),
                fetching: tokio::sync::Mutex::new(()),
                generations: AtomicU64::new(0),
                renewals: AtomicU64::new(0),
                rotations: AtomicU64::new(0),
                token_renew_at: std::sync::Mutex::new(None),
            }),
        };
        broker
            .inner
            .schedule_token(token.ttl.filter(|_| token.renewable));
        Ok(broker)
    }

    pub fn client(&self) -> &BaoClient {
        &self.inner.client
    }

    /// The provisioner login `provision-bootstrap` stored for an instance, if any.
    pub async fn instance_login(
        &self,
        instance: &str,
    ) -> Result<Option<(String, crate::config::Secret)>, BrokerError> {
        let inner = &self.inner;
        let Some(data) = inner
            .client
            .kv_read(&inner.kv_mount, &instance_secret_path(instance))
            .await?
        else {
            return Ok(None);
        };
        let field = |name: &str| data.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        match (field("username"), field("password")) {
            (Some(user), Some(password)) => Ok(Some((user, crate::config::Secret::new(password)))),
            _ => Err(BrokerError::Failed(format!(
                "{}/{} lacks username or password",
                inner.kv_mount,
                instance_secret_path(instance)
            ))),
        }
    }

    /// The tenant's credentials: the held lease, or a new one.
    pub async fn credentials(&self, loc: &TenantLocation) -> Result<Credentials, BrokerError> {
        let inner = &self.inner;
        if let Some(c) = inner.live(loc.slug.as_str()) {
            return Ok(c);
        }
        let _one = inner.fetching.lock().await;
        if let Some(c) = inner.live(loc.slug.as_str()) {
            return Ok(c);
        }
        let role = loc.slug.bao_role();
        let lease = inner.client.db_creds(&inner.mount, &role).await?;
        Ok(inner.hold(loc.slug.as_str(), role, lease))
    }

    /// Forgets the held lease (its login was refused), so the next call leases anew.
    pub fn invalidate(&self, loc: &TenantLocation) {
        let gone = self.inner.lock().remove(loc.slug.as_str());
        if let Some(gone) = gone {
            tracing::warn!(tenant = %loc.slug, lease = %gone.lease_id, "tenant credential refused; leasing a new one");
        }
    }

    /// Grows whenever any tenant's credentials change: a lock-free check for pools.
    pub fn epoch(&self) -> u64 {
        self.inner.generations.load(Ordering::Relaxed)
    }

    /// Writes the tenant's OpenBAO role. Idempotent.
    pub async fn provision(&self, loc: &TenantLocation) -> Result<(), BrokerError> {
        let inner = &self.inner;
        let group = loc.slug.group_role();
        let mut creation = format!(
            "CREATE ROLE \"{{{{name}}}}\" LOGIN PASSWORD '{{{{password}}}}' VALID UNTIL '{{{{expiration}}}}' IN ROLE {}; \
             ALTER ROLE \"{{{{name}}}}\" SET role = {};",
            quote_ident(&group),
            quote_literal(&group),
        );
        if loc.isolation == Isolation::Schema {
            creation.push_str(&format!(
                " ALTER ROLE \"{{{{name}}}}\" SET search_path = {};",
                quote_ident(&loc.slug.physical_name())
            ));
        }
        let body = json!({
            "db_name": loc.instance,
            "creation_statements": [creation],
            // Objects belong to the group role, so the login owns nothing to reassign.
            "revocation_statements": ["DROP ROLE IF EXISTS \"{{name}}\";"],
            "default_ttl": inner.ttl.as_secs(),
            "max_ttl": inner.max_ttl.as_secs(),
        });
        inner
            .client
            .write(&inner.role_path(loc), &body)
            .await
            .map(|_| ())
            .map_err(Into::into)
    }

    /// Revokes every lease of the tenant and deletes its OpenBAO role. Idempotent.
    pub async fn revoke(&self, loc: &TenantLocation) -> Result<(), BrokerError> {
        let inner = &self.inner;
        inner.lock().remove(loc.slug.as_str());
        inner.client.revoke_prefix(&inner.creds_path(loc)).await?;
        inner.client.delete(&inner.role_path(loc)).await?;
        Ok(())
    }

    /// What is left of the tenant in OpenBAO, for the purge's verification.
    pub async fn residue(&self, loc: &TenantLocation) -> Result<Option<&'static str>, BrokerError> {
        let inner = &self.inner;
        if inner.client.read(&inner.role_path(loc)).await?.is_some() {
            return Ok(Some("the OpenBAO role"));
        }
        if !inner
            .client
            .leases(&inner.creds_path(loc))
            .await?
            .is_empty()
        {
            return Ok(Some("OpenBAO leases"));
        }
        Ok(None)
    }

    /// For `/readyz`.
    pub async fn problem(&self) -> Option<String> {
        self.inner
            .client
            .health()
            .await
            .err()
            .map(|e| e.to_string())
    }

    /// Pools recycle connections this often, well inside what is left of a replaced lease.
    pub fn connection_lifetime(&self) -> Duration {
        (self.inner.ttl / 4).min(Duration::from_secs(1800))
    }

    pub fn stats(&self) -> BrokerStats {
        let inner = &self.inner;
        BrokerStats {
            calls: inner.client.calls(),
            leases: inner.lock().len() as u64,
            renewals: inner.renewals.load(Ordering::Relaxed),
            rotations: inner.rotations.load(Ordering::Relaxed),
        }
    }

    /// Renews leases (and the server's own token) until the server stops.
    pub fn spawn_renewal(&self) -> tokio::task::JoinHandle<()> {
        let inner = Arc::clone(&self.inner);
        let tick = (inner.ttl / 10).clamp(Duration::from_millis(200), Duration::from_secs(30));
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(tick);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                inner.renew_token().await;
                inner.renew_due(tick).await;
            }
        })
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Held>> {
        self.leases.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn role_path(&self, loc: &TenantLocation) -> String {
        format!("{}/roles/{}", self.mount, loc.slug.bao_role())
    }

    fn creds_path(&self, loc: &TenantLocation) -> String {
        format!("{}/creds/{}", self.mount, loc.slug.bao_role())
    }

    /// The held credentials while they have at least a moment left.
    fn live(&self, slug: &str) -> Option<Credentials> {
        let margin = (self.ttl / 10).min(Duration::from_secs(5));
        self.lock()
            .get(slug)
            .filter(|h| h.expires > Instant::now() + margin)
            .map(|h| h.credentials.clone())
    }

    fn hold(&self, slug: &str, role: String, lease: DbLease) -> Credentials {
        let now = Instant::now();
        let credentials = Credentials {
            username: Some(lease.username),
            password: Some(lease.password),
        };
        let held = Held {
            role,
            lease_id: lease.lease_id,
            credentials: credentials.clone(),
            born: now,
            expires: now + lease.duration,
            renew_at: now + lease.duration * 2 / 3,
        };
        self.lock().insert(slug.to_owned(), held);
        self.generations.fetch_add(1, Ordering::Relaxed);
        credentials
    }

    fn schedule_token(&self, ttl: Option<Duration>) {
        *self
            .token_renew_at
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = ttl.map(|ttl| Instant::now() + ttl * 2 / 3);
    }

    async fn renew_token(&self) {
        let due = self
            .token_renew_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|at| at <= Instant::now());
        if !due {
            return;
        }
        let renewed = match self.client.renew_self().await {
            Ok(ttl) if !ttl.is_zero() => Ok(Some(ttl)),
            // Not renewable any more: log in again where we can.
            _ => self
                .client
                .login()
                .await
                .map(|t| t.ttl.filter(|_| t.renewable)),
        };
        match renewed {
            Ok(ttl) => self.schedule_token(ttl),
            Err(e) => tracing::warn!(error = %e, "could not renew the OpenBAO token; retrying"),
        }
    }

    async fn renew_due(&self, retry_in: Duration) {
        let now = Instant::now();
        let due: Vec<(String, String, String, Instant)> = self
            .lock()
            .iter()
            .filter(|(_, h)| h.renew_at <= now)
            .map(|(slug, h)| (slug.clone(), h.role.clone(), h.lease_id.clone(), h.born))
            .collect();
        for (slug, role, lease_id, born) in due {
            // Near its maximum a lease cannot get a full TTL again: replace it now, while
            // it still has at least a third of a TTL left for connections to move over.
            let renewed = if now + self.ttl >= born + self.max_ttl {
                None
            } else {
                match self.client.renew_lease(&lease_id, self.ttl).await {
                    Ok(granted) if granted >= self.ttl / 2 => Some(Ok(granted)),
                    Ok(_) => None,
                    Err(e) if e.is_unavailable() => Some(Err(e)),
                    // Gone or refused: lease a fresh one.
                    Err(_) => None,
                }
            };
            match renewed {
                Some(Ok(granted)) => {
                    self.renewals.fetch_add(1, Ordering::Relaxed);
                    if let Some(h) = self.lock().get_mut(&slug) {
                        let now = Instant::now();
                        h.expires = now + granted;
                        h.renew_at = now + granted * 2 / 3;
                    }
                }
                Some(Err(e)) => {
                    tracing::warn!(tenant = %slug, error = %e, "lease renewal failed; the current credential stays in use until it expires");
                    if let Some(h) = self.lock().get_mut(&slug) {
                        h.renew_at = Instant::now() + retry_in;
                    }
                }
                None => self.rotate(&slug, role, retry_in).await,
            }
        }
    }

    async fn rotate(&self, slug: &str, role: String, retry_in: Duration) {
        let _one = self.fetching.lock().await;
        match self.client.db_creds(&self.mount, &role).await {
            Ok(lease) => {
                // The tenant may have been purged meanwhile.
                if self.lock().contains_key(slug) {
                    self.hold(slug, role, lease);
                    self.rotations.fetch_add(1, Ordering::Relaxed);
                } else if let Err(e) = self.client.revoke_lease(&lease.lease_id).await {
                    tracing::warn!(tenant = %slug, error = %e, "could not revoke an unneeded lease");
                }
            }
            Err(e) => {
                tracing::warn!(tenant = %slug, error = %e, "could not replace an expiring credential; retrying");
                if let Some(h) = self.lock().get_mut(slug) {
                    h.renew_at = Instant::now() + retry_in;
                }
            }
        }
    }
}
