//! Typed configuration: `tenantry.yaml` plus `TENANTRY_SECTION__KEY` environment overrides.
//!
//! Loading refuses unknown keys, bad values and contradictions with a message naming the
//! key, so the server never starts half-configured.

mod duration;
mod load;
mod shared;
mod validate;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tenantry_proto::{Isolation, TenantLimits};

use crate::secret::Secret;
use crate::store::Backend;
pub use crate::store::instances::InstanceConfig;
use crate::store::isolation::{AvailableOn, placeable_on};
pub use duration::HumanDuration;
pub use load::{ConfigError, ENV_PREFIX, NON_CONFIG_ENV, load, load_unchecked};
pub use shared::{CacheConfig, MediaConfig, MediaLocation};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    /// Where the embedded backend keeps `registry.db`, `tenants/` and `media/`; on
    /// PostgreSQL, where tenants' media directories live.
    pub data_dir: PathBuf,
    /// The registry database; absent means the embedded SQLite default.
    pub registry: DatabaseConfig,
    /// A separate database for the shared partition; absent means the registry's.
    pub shared: DatabaseConfig,
    /// Database servers that hold tenants (PostgreSQL only).
    pub instances: BTreeMap<String, InstanceConfig>,
    /// Let tenant pools use the instances' own credentials (no per-tenant credentials).
    pub allow_shared_credentials: bool,
    /// OpenBAO, which brokers short-lived per-tenant database credentials.
    pub vault: Option<VaultConfig>,
    pub multitenancy: MultitenancyConfig,
    pub isolation: IsolationConfig,
    pub routing: RoutingConfig,
    pub admin: AdminConfig,
    pub auth: AuthConfig,
    pub log: LogConfig,
    pub migrations: MigrationsConfig,
    pub pools: PoolsConfig,
    pub lifecycle: LifecycleConfig,
    pub cache: CacheConfig,
    pub media: MediaConfig,
    /// Named plans: limits a tenant gets unless its own override them. A tenant with no
    /// plan is on the plan called `default`, when there is one.
    pub plans: BTreeMap<String, TenantLimits>,
    /// `TENANTRY_*` variables that are no configuration key, reported at start.
    #[serde(skip)]
    pub ignored_env: Vec<String>,
}

/// The plan a tenant without one is on.
pub const DEFAULT_PLAN: &str = "default";

pub const PLAN_NAME_RULE: &str = "a plan name is 1 to 40 characters of a-z, 0-9 and -";

/// Whether `name` may name a plan (in the configuration or through the API).
pub fn valid_plan_name(name: &str) -> bool {
    (1..=40).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Tenant creations and deletions that stopped half-way.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LifecycleConfig {
    /// How often the server finishes (or rolls back) a creation or deletion that has made
    /// no progress for this long, e.g. because its instance or OpenBAO was unreachable.
    pub reconcile_interval: HumanDuration,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        LifecycleConfig {
            reconcile_interval: HumanDuration::from_secs(30),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            server: ServerConfig::default(),
            data_dir: PathBuf::from("./data"),
            registry: DatabaseConfig::default(),
            shared: DatabaseConfig::default(),
            instances: BTreeMap::new(),
            allow_shared_credentials: false,
            vault: None,
            multitenancy: MultitenancyConfig::default(),
            isolation: IsolationConfig::default(),
            routing: RoutingConfig::default(),
            admin: AdminConfig::default(),
            auth: AuthConfig::default(),
            log: LogConfig::default(),
            migrations: MigrationsConfig::default(),
            pools: PoolsConfig::default(),
            lifecycle: LifecycleConfig::default(),
            cache: CacheConfig::default(),
            media: MediaConfig::default(),
            plans: BTreeMap::new(),
            ignored_env: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on; port 0 picks a free port (printed at start).
    pub listen: String,
    /// Serve HTTPS with this certificate and key; absent: plain HTTP.
    pub tls: Option<ServerTls>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8080".into(),
            tls: None,
        }
    }
}

/// The server's TLS certificate: files (read again when they change, or on SIGHUP), or a
/// development CA and certificate the server makes itself.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerTls {
    /// PEM: the server's certificate, then any intermediates.
    pub cert_file: Option<PathBuf>,
    /// PEM: the certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
    /// Make a CA and a certificate under `<data_dir>/tls` on the first start (trials and
    /// development; `serve --dev-tls`).
    pub self_signed: bool,
    /// PEM CA certificates: agents must present a client certificate signed by one of
    /// them on the agent routes (mutual TLS). Other routes take one without asking.
    pub client_ca_file: Option<PathBuf>,
}

impl ServerConfig {
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen.parse().map_err(|_| {
            ConfigError::invalid(
                "server.listen",
                format!("`{}` is not an address like 127.0.0.1:8080", self.listen),
            )
        })
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `postgres://user:password@host:port/database`.
    pub url: Option<Secret>,
}

/// How the server logs in to OpenBAO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VaultAuth {
    /// A token given in `vault.token` (development; renewed while renewable).
    #[default]
    Token,
    /// AppRole login with `vault.role_id` and `vault.secret_id` (production).
    Approle,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultConfig {
    /// `https://openbao.internal:8200` (or `http://` on loopback).
    pub url: String,
    /// PEM CA certificates to trust for OpenBAO's certificate, besides the system's.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub auth: VaultAuth,
    #[serde(default)]
    pub token: Option<Secret>,
    #[serde(default)]
    pub role_id: Option<String>,
    #[serde(default)]
    pub secret_id: Option<Secret>,
    /// Mount of the database secrets engine.
    #[serde(default = "VaultConfig::default_mount")]
    pub mount: String,
    /// Mount of the KV v2 engine holding the provisioner's instance passwords.
    #[serde(default = "VaultConfig::default_kv_mount")]
    pub kv_mount: String,
    /// Lifetime of one tenant credential; renewed at about two thirds of it.
    #[serde(default = "VaultConfig::default_lease_ttl")]
    pub lease_ttl: HumanDuration,
    /// The longest a credential may be renewed to; a fresh one replaces it before then.
    #[serde(default = "VaultConfig::default_lease_max_ttl")]
    pub lease_max_ttl: HumanDuration,
}

impl VaultConfig {
    fn default_mount() -> String {
        "database".into()
    }
    fn default_kv_mount() -> String {
        "secret".into()
    }
    fn default_lease_ttl() -> HumanDuration {
        HumanDuration::from_secs(3600)
    }
    fn default_lease_max_ttl() -> HumanDuration {
        HumanDuration::from_secs(24 * 3600)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let rest = ["https://", "http://"]
            .iter()
            .find_map(|scheme| self.url.strip_prefix(scheme));
        if rest.is_none_or(str::is_empty) {
            return Err(ConfigError::invalid(
                "vault.url",
                "not an OpenBAO address like https://openbao.internal:8200",
            ));
        }
        match self.auth {
            VaultAuth::Token if self.token.is_none() => {
                return Err(ConfigError::invalid(
                    "vault.token",
                    "vault.auth: token needs vault.token (or TENANTRY_VAULT__TOKEN)",
                ));
            }
            VaultAuth::Approle if self.role_id.is_none() || self.secret_id.is_none() => {
                return Err(ConfigError::invalid(
                    "vault.role_id",
                    "vault.auth: approle needs vault.role_id and vault.secret_id",
                ));
            }
            _ => {}
        }
        for (key, mount) in [
            ("vault.mount", &self.mount),
            ("vault.kv_mount", &self.kv_mount),
        ] {
            let ok = !mount.is_empty()
                && mount
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !ok {
                return Err(ConfigError::invalid(
                    key,
                    "a mount path is letters, digits, - and _",
                ));
            }
        }
        let (ttl, max) = (
            self.lease_ttl.as_duration(),
            self.lease_max_ttl.as_duration(),
        );
        if ttl < std::time::Duration::from_secs(2) {
            return Err(ConfigError::invalid(
                "vault.lease_ttl",
                "must be at least 2s",
            ));
        }
        if max < ttl {
            return Err(ConfigError::invalid(
                "vault.lease_max_ttl",
                "must not be shorter than vault.lease_ttl",
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MultitenancyConfig {
    /// `false` collapses everything onto one database owned by the built-in `default` tenant.
    pub enabled: bool,
}

impl Default for MultitenancyConfig {
    fn default() -> Self {
        MultitenancyConfig { enabled: true }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IsolationConfig {
    /// Isolation mode for new tenants when the request names none.
    pub default: Isolation,
}

impl Default for IsolationConfig {
    fn default() -> Self {
        IsolationConfig {
            default: Isolation::File,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unmatched {
    /// Refuse tenant-scoped requests that resolve to no tenant.
    #[default]
    Reject,
    /// Send them to the built-in `default` tenant.
    Default,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingConfig {
    /// Requests to `<slug>.<base_domain>` resolve to that tenant.
    pub base_domain: Option<String>,
    pub unmatched: Unmatched,
    /// Full reload of the routing snapshot from the registry, as a safety net.
    pub reload_interval: HumanDuration,
    /// On a PostgreSQL registry: how long the snapshot may go without confirmation that no
    /// change was missed (the listener's heartbeat, every second) before requests that
    /// depend on it are refused with 503 `routing_stale` and `/readyz` fails.
    pub max_staleness: HumanDuration,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            base_domain: None,
            unmatched: Unmatched::Reject,
            reload_interval: HumanDuration::from_secs(30),
            max_staleness: HumanDuration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// An operator API key (`tnt_` + at least 32 characters). When absent, the server
    /// creates one on first start and prints it once.
    pub api_key: Option<Secret>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// When set, tenant tokens must carry this `aud`.
    pub audience: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A tracing filter, e.g. `info` or `tenantry_server=debug,info`; `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MigrationsConfig {
    /// `serve` applies pending migrations of all three chains before listening.
    pub on_start: bool,
    /// How many tenant databases are migrated at once.
    pub concurrency: usize,
    /// Read migrations from `<dir>/<backend>/<chain>/` instead of the ones built in.
    pub dir: Option<PathBuf>,
}

impl Default for MigrationsConfig {
    fn default() -> Self {
        MigrationsConfig {
            on_start: true,
            concurrency: 4,
            dir: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PoolsConfig {
    /// Tenant pools kept open at once; the least recently used is closed beyond this.
    pub max_open: u64,
    /// Connections in one tenant's pool (database and file modes).
    pub per_tenant: u32,
    /// Connections in one instance's shared schema-mode pool.
    pub per_instance: u32,
    /// The most connections open to tenant databases at once, over all pools.
    pub max_connections: u32,
    /// A tenant pool unused this long is closed.
    pub idle_timeout: HumanDuration,
    /// How long a request waits for a connection before failing.
    pub acquire_timeout: HumanDuration,
}

impl PoolsConfig {
    /// Every pool must fit in the budget, or it could never open all its connections
    /// (a schema pool larger than the budget fails every request).
    fn validate(&self) -> Result<(), ConfigError> {
        for (key, size) in [
            ("pools.per_instance", self.per_instance),
            ("pools.per_tenant", self.per_tenant),
        ] {
            if size == 0 {
                return Err(ConfigError::invalid(key, "must be at least 1"));
            }
            if size > self.max_connections {
                return Err(ConfigError::invalid(
                    "pools.max_connections",
                    format!(
                        "pools.max_connections ({}) is below {key} ({size}): one pool could never open",
                        self.max_connections
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl Default for PoolsConfig {
    fn default() -> Self {
        PoolsConfig {
            max_open: 256,
            per_tenant: 4,
            per_instance: 32,
            max_connections: 256,
            idle_timeout: HumanDuration::from_secs(300),
            acquire_timeout: HumanDuration::from_secs(5),
        }
    }
}
