//! Typed configuration: `tenantry.yaml` plus `TENANTRY_SECTION__KEY` environment overrides.
//!
//! Loading refuses unknown keys, bad values and contradictions with a message naming the
//! key, so the server never starts half-configured.

mod duration;
mod load;
mod secret;

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tenantry_proto::Isolation;

pub use duration::HumanDuration;
pub use load::{ConfigError, ENV_PREFIX, NON_CONFIG_ENV, load};
pub use secret::Secret;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    /// Where the embedded backend keeps `registry.db`, `tenants/` and `media/`.
    pub data_dir: PathBuf,
    pub multitenancy: MultitenancyConfig,
    pub isolation: IsolationConfig,
    pub routing: RoutingConfig,
    pub admin: AdminConfig,
    pub log: LogConfig,
    pub migrations: MigrationsConfig,
    pub pools: PoolsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            server: ServerConfig::default(),
            data_dir: PathBuf::from("./data"),
            multitenancy: MultitenancyConfig::default(),
            isolation: IsolationConfig::default(),
            routing: RoutingConfig::default(),
            admin: AdminConfig::default(),
            log: LogConfig::default(),
            migrations: MigrationsConfig::default(),
            pools: PoolsConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on; port 0 picks a free port (printed at start).
    pub listen: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8080".into(),
        }
    }
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
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            base_domain: None,
            unmatched: Unmatched::Reject,
            reload_interval: HumanDuration::from_secs(30),
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
    /// Connections in one tenant's pool.
    pub per_tenant: u32,
    /// A tenant pool unused this long is closed.
    pub idle_timeout: HumanDuration,
    /// How long a request waits for a connection before failing.
    pub acquire_timeout: HumanDuration,
}

impl Default for PoolsConfig {
    fn default() -> Self {
        PoolsConfig {
            max_open: 256,
            per_tenant: 4,
            idle_timeout: HumanDuration::from_secs(300),
            acquire_timeout: HumanDuration::from_secs(5),
        }
    }
}

impl Config {
    /// Checks values and combinations that the types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.server.listen_addr()?;
        if self.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::invalid("data_dir", "must not be empty"));
        }
        if let Some(key) = &self.admin.api_key {
            crate::auth::api_key::validate_format(key.expose())
                .map_err(|why| ConfigError::invalid("admin.api_key", why))?;
        }
        if let Some(domain) = &self.routing.base_domain {
            crate::names::validate_domain(domain)
                .map_err(|why| ConfigError::invalid("routing.base_domain", why.to_string()))?;
        }
        match self.isolation.default {
            Isolation::File => {}
            Isolation::Database | Isolation::Schema => {
                return Err(ConfigError::invalid(
                    "isolation.default",
                    format!(
                        "`{}` needs a PostgreSQL backend; the embedded backend supports `file`",
                        self.isolation.default
                    ),
                ));
            }
            Isolation::Collapsed => {
                return Err(ConfigError::invalid(
                    "isolation.default",
                    "`collapsed` is not a tenant isolation mode; set multitenancy.enabled: false instead",
                ));
            }
        }
        if !self.multitenancy.enabled && self.routing.base_domain.is_some() {
            return Err(ConfigError::invalid(
                "routing.base_domain",
                "tenant subdomains need multi-tenancy; it is off (multitenancy.enabled: false)",
            ));
        }
        if self.migrations.concurrency == 0 {
            return Err(ConfigError::invalid(
                "migrations.concurrency",
                "must be at least 1",
            ));
        }
        if self.pools.max_open == 0 {
            return Err(ConfigError::invalid("pools.max_open", "must be at least 1"));
        }
        if self.pools.per_tenant == 0 {
            return Err(ConfigError::invalid(
                "pools.per_tenant",
                "must be at least 1",
            ));
        }
        if self.routing.reload_interval.as_duration().is_zero() {
            return Err(ConfigError::invalid(
                "routing.reload_interval",
                "must be longer than zero",
            ));
        }
        Ok(())
    }
}
