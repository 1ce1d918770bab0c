//! The checks the types alone cannot make: values and combinations, each refused with a
//! message naming the key.

use super::*;

impl Config {
    /// Whether the registry (and so everything) is on PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.registry.url.is_some()
    }

    fn validate_backend(&self) -> Result<(), ConfigError> {
        let postgres = self.is_postgres();
        for (key, db) in [
            ("registry.url", &self.registry),
            ("shared.url", &self.shared),
        ] {
            if let Some(url) = &db.url {
                check_postgres_url(key, url)?;
            }
        }
        for (name, instance) in &self.instances {
            if !valid_instance_name(name) {
                return Err(ConfigError::invalid(
                    format!("instances.{name}"),
                    "an instance name is 1 to 40 characters of a-z, 0-9 and -, starting with a letter",
                ));
            }
            check_postgres_url(&format!("instances.{name}.url"), &instance.url)?;
            if instance.max_tenants == Some(0) {
                return Err(ConfigError::invalid(
                    format!("instances.{name}.max_tenants"),
                    "must be at least 1",
                ));
            }
        }
        if !postgres {
            if self.shared.url.is_some() {
                return Err(ConfigError::invalid(
                    "shared.url",
                    "a separate shared database needs registry.url (PostgreSQL)",
                ));
            }
            if !self.instances.is_empty() {
                return Err(ConfigError::invalid(
                    "instances",
                    "instances need registry.url (PostgreSQL); the embedded backend keeps tenants in files",
                ));
            }
        }
        let backend = if postgres {
            Backend::Postgres
        } else {
            Backend::Sqlite
        };
        let default = self.isolation.default;
        if !default.available_on(backend) {
            let choices: Vec<String> = placeable_on(backend)
                .iter()
                .map(|i| format!("`{i}`"))
                .collect();
            let message = if !postgres && default.available_on(Backend::Postgres) {
                format!(
                    "`{default}` needs registry.url (PostgreSQL); the embedded backend supports {}",
                    choices.join(" or ")
                )
            } else {
                let place = if postgres {
                    "PostgreSQL"
                } else {
                    "the embedded backend"
                };
                format!(
                    "`{default}` is not available on {place}; use {}",
                    choices.join(" or ")
                )
            };
            return Err(ConfigError::invalid("isolation.default", message));
        }
        if !postgres {
            return Ok(());
        }
        if self.multitenancy.enabled {
            if self.instances.is_empty() {
                return Err(ConfigError::invalid(
                    "instances",
                    "multi-tenancy on PostgreSQL needs at least one instance to place tenants on",
                ));
            }
            if self.vault.is_none() && !self.allow_shared_credentials {
                return Err(ConfigError::invalid(
                    "vault",
                    "multi-tenancy on PostgreSQL needs per-tenant credentials: configure vault \
                     (OpenBAO), or set allow_shared_credentials: true to let every tenant pool use \
                     the instances' own credentials",
                ));
            }
        }
        Ok(())
    }

    /// Checks values and combinations that the types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.server.listen_addr()?;
        if let Some(tls) = &self.server.tls {
            match (tls.self_signed, &tls.cert_file, &tls.key_file) {
                (true, None, None) | (false, Some(_), Some(_)) => {}
                (true, ..) => {
                    return Err(ConfigError::invalid(
                        "server.tls.self_signed",
                        "a self-signed certificate is made by the server: set it, or cert_file and key_file, not both",
                    ));
                }
                (false, None, _) => {
                    return Err(ConfigError::invalid(
                        "server.tls.cert_file",
                        "missing: TLS needs a certificate and its key",
                    ));
                }
                (false, _, None) => {
                    return Err(ConfigError::invalid(
                        "server.tls.key_file",
                        "missing: TLS needs a certificate and its key",
                    ));
                }
            }
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::invalid("data_dir", "must not be empty"));
        }
        if let Some(key) = &self.admin.api_key {
            crate::secret::api_key::validate_format(key.expose())
                .map_err(|why| ConfigError::invalid("admin.api_key", why))?;
        }
        if let Some(domain) = &self.routing.base_domain {
            crate::names::validate_domain(domain)
                .map_err(|why| ConfigError::invalid("routing.base_domain", why.to_string()))?;
        }
        self.validate_backend()?;
        self.pools.validate()?;
        if let Some(vault) = &self.vault {
            if !self.is_postgres() {
                return Err(ConfigError::invalid(
                    "vault",
                    "OpenBAO brokers PostgreSQL credentials; the embedded backend needs none (set registry.url)",
                ));
            }
            vault.validate()?;
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
        if self.lifecycle.reconcile_interval.as_duration().is_zero() {
            return Err(ConfigError::invalid(
                "lifecycle.reconcile_interval",
                "must be longer than zero",
            ));
        }
        if self.routing.reload_interval.as_duration().is_zero() {
            return Err(ConfigError::invalid(
                "routing.reload_interval",
                "must be longer than zero",
            ));
        }
        for name in self.plans.keys() {
            if !super::valid_plan_name(name) {
                return Err(ConfigError::invalid(
                    format!("plans.{name}"),
                    super::PLAN_NAME_RULE,
                ));
            }
        }
        let cache_tls = match &self.cache.url {
            Some(url) if url.expose().starts_with("rediss://") => true,
            Some(url) if url.expose().starts_with("redis://") => false,
            Some(_) => {
                return Err(ConfigError::invalid(
                    "cache.url",
                    "must be a redis:// or (TLS) rediss:// URL",
                ));
            }
            None => false,
        };
        if self.cache.ca_file.is_some() && !cache_tls {
            return Err(ConfigError::invalid(
                "cache.ca_file",
                "applies to TLS only: use a rediss:// cache.url",
            ));
        }
        self.validate_media()?;
        // A heartbeat (1 s) and its deadline (1 s) must fit, or a healthy server goes stale.
        if self.routing.max_staleness.as_duration() < std::time::Duration::from_secs(3) {
            return Err(ConfigError::invalid(
                "routing.max_staleness",
                "must be at least 3s (the listener confirms every second, with a second to answer)",
            ));
        }
        Ok(())
    }
}

impl Config {
    fn validate_media(&self) -> Result<(), ConfigError> {
        let media = &self.media;
        media
            .location()
            .map_err(|rule| ConfigError::invalid("media.url", rule))?;
        media.s3_settings().map_err(|key| {
            ConfigError::invalid(
                key,
                "not an S3 setting; see object_store's AmazonS3ConfigKey (endpoint, region, access_key_id, …)",
            )
        })?;
        if media.max_object_bytes == 0 {
            return Err(ConfigError::invalid(
                "media.max_object_bytes",
                "must be at least 1",
            ));
        }
        if media.uploads_per_tenant == 0 {
            return Err(ConfigError::invalid(
                "media.uploads_per_tenant",
                "must be at least 1",
            ));
        }
        if media.upload_idle_timeout.as_duration().is_zero() {
            return Err(ConfigError::invalid(
                "media.upload_idle_timeout",
                "must be longer than zero",
            ));
        }
        Ok(())
    }
}

fn check_postgres_url(key: &str, url: &Secret) -> Result<(), ConfigError> {
    let text = url.expose();
    let ok = (text.starts_with("postgres://") || text.starts_with("postgresql://"))
        && text.parse::<sqlx::postgres::PgConnectOptions>().is_ok();
    if ok {
        Ok(())
    } else {
        // The URL may hold a password: say what is wrong without repeating it.
        Err(ConfigError::invalid(
            key,
            "not a PostgreSQL URL like postgres://user:password@host:5432/database",
        ))
    }
}

fn valid_instance_name(name: &str) -> bool {
    (1..=40).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}
