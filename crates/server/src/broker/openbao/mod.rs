//! The OpenBAO broker: short-lived PostgreSQL logins from the database secrets engine,
//! held in memory and renewed in the background.
//!
//! - Each database tenant has an OpenBAO role `tenant-<slug>` whose generated login roles
//!   only join the tenant's NOLOGIN group role `t_<slug>_rw` (which owns its objects) and
//!   act as it.
//! - Each instance has an OpenBAO role `router-<instance>` for its schema tenants' shared
//!   pool: its logins join `tenantry_router` and `SET ROLE` to one tenant's group role per
//!   checkout (decision 0008).
//! - The request path only reads the in-memory lease; OpenBAO is called when a tenant is
//!   first opened, by the renewal task, and on an authentication failure (once).
//! - A lease is renewed at about two thirds of its TTL, and replaced when its maximum is
//!   near ([`timing`]); pools swap their connect options and recycle their connections
//!   within a quarter TTL, so no connection outlives its login role ([`renewal`]).

pub mod client;
mod error;
mod renewal;
mod source;
mod timing;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use serde_json::json;

use self::client::{BaoAuth, BaoClient, BaoError, DbLease};
use self::timing::LeaseTimes;
use super::{CredentialError, CredentialStats, Credentials};
use crate::config::{VaultAuth, VaultConfig};
use crate::names::{SCHEMA_LOGIN_ROLE, schema_login_bao_role};
use crate::store::TenantLocation;
use crate::store::credentials::InstanceLogin;
use crate::store::isolation::{Logins, mode};
use crate::store::sql::{quote_ident, quote_literal};

/// Where `provision-bootstrap` keeps an instance's provisioner login in KV.
pub fn instance_secret_path(instance: &str) -> String {
    format!("tenantry/instances/{instance}")
}

impl From<BaoError> for CredentialError {
    fn from(e: BaoError) -> Self {
        if e.is_unavailable() {
            CredentialError::Unavailable(Box::new(e))
        } else {
            CredentialError::Failed(Box::new(e))
        }
    }
}

/// A lease the broker holds, under the OpenBAO role it came from.
struct Held {
    lease_id: String,
    credentials: Credentials,
    times: LeaseTimes,
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
    /// By OpenBAO role (`tenant-<slug>`, `router-<instance>`).
    leases: std::sync::Mutex<HashMap<String, Held>>,
    /// Instances whose schema login role this process has written.
    schema_logins: std::sync::Mutex<std::collections::HashSet<String>>,
    writing_schema_login: tokio::sync::Mutex<()>,
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
    pub async fn connect(config: &VaultConfig) -> Result<OpenBaoBroker, CredentialError> {
        let auth = match config.auth {
            VaultAuth::Token => BaoAuth::Token(
                config
                    .token
                    .clone()
                    .ok_or_else(|| CredentialError::Failed("vault.token is not set".into()))?,
            ),
            VaultAuth::Approle => BaoAuth::AppRole {
                role_id: config.role_id.clone().unwrap_or_default(),
                secret_id: config
                    .secret_id
                    .clone()
                    .ok_or_else(|| CredentialError::Failed("vault.secret_id is not set".into()))?,
            },
        };
        let client = BaoClient::new(&config.url, auth, config.ca_file.as_deref())?;
        let token = client.login().await?;
        let broker = OpenBaoBroker {
            inner: Arc::new(Inner {
                client,
                mount: config.mount.clone(),
                kv_mount: config.kv_mount.clone(),
                ttl: config.lease_ttl.as_duration(),
                max_ttl: config.lease_max_ttl.as_duration(),
                leases: std::sync::Mutex::new(HashMap::new()),
                schema_logins: std::sync::Mutex::new(std::collections::HashSet::new()),
                writing_schema_login: tokio::sync::Mutex::new(()),
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
    ) -> Result<Option<InstanceLogin>, CredentialError> {
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
            (Some(user), Some(password)) => Ok(Some((user, crate::secret::Secret::new(password)))),
            _ => Err(CredentialError::Failed(
                format!(
                    "{}/{} lacks username or password",
                    inner.kv_mount,
                    instance_secret_path(instance)
                )
                .into(),
            )),
        }
    }

    /// The tenant's credentials: the held lease, or a new one.
    pub async fn credentials(&self, loc: &TenantLocation) -> Result<Credentials, CredentialError> {
        self.inner.lease(&loc.slug.bao_role()).await
    }

    /// Credentials for the instance's schema pool (see [`SCHEMA_LOGIN_ROLE`]).
    pub async fn schema_login_credentials(
        &self,
        instance: &str,
    ) -> Result<Credentials, CredentialError> {
        self.inner.lease(&schema_login_bao_role(instance)).await
    }

    /// Forgets the held lease (its login was refused), so the next call leases anew.
    pub fn invalidate(&self, loc: &TenantLocation) {
        self.inner.forget(&loc.slug.bao_role());
    }

    /// As [`Self::invalidate`], for the instance's schema pool.
    pub fn invalidate_schema_login(&self, instance: &str) {
        self.inner.forget(&schema_login_bao_role(instance));
    }

    /// Grows whenever any tenant's credentials change: a lock-free check for pools.
    pub fn epoch(&self) -> u64 {
        self.inner.generations.load(Ordering::Relaxed)
    }

    /// Writes the OpenBAO role the tenant's logins come from: its own in database mode,
    /// its instance's schema login role in schema mode. Idempotent.
    pub async fn provision(&self, loc: &TenantLocation) -> Result<(), CredentialError> {
        let inner = &self.inner;
        if mode(loc.isolation).logins() == Logins::Instance {
            if inner.schema_logins_lock().contains(&loc.instance) {
                return Ok(());
            }
            // Tenants created at once would all write it, and OpenBAO fails concurrent
            // writes of one path ("transaction commit failed").
            let _one = inner.writing_schema_login.lock().await;
            if inner.schema_logins_lock().contains(&loc.instance) {
                return Ok(());
            }
            // INHERIT (the default) towards the schema login role, which holds only CONNECT on the
            // pool database; that role is NOINHERIT, so no tenant's privileges reach
            // the login until it sets a tenant's role.
            let creation = format!(
                "CREATE ROLE \"{{{{name}}}}\" LOGIN PASSWORD '{{{{password}}}}' VALID UNTIL '{{{{expiration}}}}' IN ROLE {};",
                quote_ident(SCHEMA_LOGIN_ROLE),
            );
            let role = schema_login_bao_role(&loc.instance);
            if let Err(e) = inner.write_role(&loc.instance, &role, creation).await {
                // Another replica may have written it at the same moment.
                if !matches!(
                    inner.client.read(&inner.role_path(&role)).await,
                    Ok(Some(_))
                ) {
                    return Err(e);
                }
            }
            inner.schema_logins_lock().insert(loc.instance.clone());
            return Ok(());
        }
        let group = loc.slug.group_role();
        let creation = format!(
            "CREATE ROLE \"{{{{name}}}}\" LOGIN PASSWORD '{{{{password}}}}' VALID UNTIL '{{{{expiration}}}}' IN ROLE {}; \
             ALTER ROLE \"{{{{name}}}}\" SET role = {};",
            quote_ident(&group),
            quote_literal(&group),
        );
        inner
            .write_role(&loc.instance, &loc.slug.bao_role(), creation)
            .await
    }

    /// Revokes every lease of the tenant and deletes its OpenBAO role (schema tenants
    /// created before decision 0008 have one too). Idempotent.
    pub async fn revoke(&self, loc: &TenantLocation) -> Result<(), CredentialError> {
        let inner = &self.inner;
        inner.lock().remove(&loc.slug.bao_role());
        inner.client.revoke_prefix(&inner.creds_path(loc)).await?;
        inner
            .client
            .delete(&inner.role_path(&loc.slug.bao_role()))
            .await?;
        Ok(())
    }

    /// What is left of the tenant in OpenBAO, for the purge's verification.
    pub async fn residue(
        &self,
        loc: &TenantLocation,
    ) -> Result<Option<&'static str>, CredentialError> {
        let inner = &self.inner;
        if inner
            .client
            .read(&inner.role_path(&loc.slug.bao_role()))
            .await?
            .is_some()
        {
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

    pub fn stats(&self) -> CredentialStats {
        let inner = &self.inner;
        CredentialStats {
            calls: inner.client.calls(),
            leases: inner.lock().len() as u64,
            renewals: inner.renewals.load(Ordering::Relaxed),
            rotations: inner.rotations.load(Ordering::Relaxed),
        }
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Held>> {
        self.leases.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn schema_logins_lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<String>> {
        self.schema_logins.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The held lease of an OpenBAO role, or a new one.
    async fn lease(&self, role: &str) -> Result<Credentials, CredentialError> {
        if let Some(c) = self.live(role) {
            return Ok(c);
        }
        let _one = self.fetching.lock().await;
        if let Some(c) = self.live(role) {
            return Ok(c);
        }
        let lease = self.client.db_creds(&self.mount, role).await?;
        Ok(self.hold(role, lease))
    }

    fn forget(&self, role: &str) {
        let gone = self.lock().remove(role);
        if let Some(gone) = gone {
            tracing::warn!(%role, lease = %gone.lease_id, "credential refused; leasing a new one");
        }
    }

    async fn write_role(
        &self,
        instance: &str,
        role: &str,
        creation: String,
    ) -> Result<(), CredentialError> {
        let body = json!({
            "db_name": instance,
            "creation_statements": [creation],
            // Objects belong to group roles, so a login owns nothing to reassign.
            "revocation_statements": ["DROP ROLE IF EXISTS \"{{name}}\";"],
            "default_ttl": self.ttl.as_secs(),
            "max_ttl": self.max_ttl.as_secs(),
        });
        self.client
            .write(&self.role_path(role), &body)
            .await
            .map(|_| ())
            .map_err(Into::into)
    }

    fn role_path(&self, role: &str) -> String {
        format!("{}/roles/{role}", self.mount)
    }

    fn creds_path(&self, loc: &TenantLocation) -> String {
        format!("{}/creds/{}", self.mount, loc.slug.bao_role())
    }

    /// The held credentials while they have at least a moment left.
    fn live(&self, role: &str) -> Option<Credentials> {
        let margin = (self.ttl / 10).min(Duration::from_secs(5));
        self.lock()
            .get(role)
            .filter(|h| h.times.live(margin))
            .map(|h| h.credentials.clone())
    }

    fn hold(&self, role: &str, lease: DbLease) -> Credentials {
        let credentials = Credentials {
            username: Some(lease.username),
            password: Some(lease.password),
        };
        let held = Held {
            lease_id: lease.lease_id,
            credentials: credentials.clone(),
            times: LeaseTimes::granted(lease.duration),
        };
        self.lock().insert(role.to_owned(), held);
        self.generations.fetch_add(1, Ordering::Relaxed);
        credentials
    }
}
