use std::path::{Path, PathBuf};

use figment::Figment;
use figment::error::Kind;
use figment::providers::{Env, Format, Serialized, Yaml};

use super::Config;

/// Every configuration key can be set as `TENANTRY_SECTION__KEY`.
pub const ENV_PREFIX: &str = "TENANTRY_";

/// `TENANTRY_*` variables that configure the CLI rather than the server; not config keys.
pub const NON_CONFIG_ENV: &[&str] = &["config", "api_key", "server_url", "crash_after"];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {path} does not exist")]
    MissingFile { path: PathBuf },
    #[error("invalid configuration: `{key}`: {message}")]
    Invalid { key: String, message: String },
}

impl ConfigError {
    pub fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Loads the configuration: defaults, then the YAML file, then `TENANTRY_*` variables.
///
/// The file is `path` when given, else `$TENANTRY_CONFIG`, else `./tenantry.yaml` if present.
pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
    let config = load_unchecked(path)?;
    config.validate()?;
    Ok(config)
}

/// Loads like [`load`] without checking combinations, for `provision-bootstrap`, which
/// runs before the server's own OpenBAO login exists.
pub fn load_unchecked(path: Option<&Path>) -> Result<Config, ConfigError> {
    let explicit = path
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("TENANTRY_CONFIG").map(PathBuf::from));
    let file = match explicit {
        Some(p) if !p.is_file() => return Err(ConfigError::MissingFile { path: p }),
        Some(p) => Some(p),
        None => Some(PathBuf::from("tenantry.yaml")).filter(|p| p.is_file()),
    };

    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    if let Some(file) = &file {
        figment = figment.merge(Yaml::file_exact(file));
    }
    figment = figment.merge(Env::prefixed(ENV_PREFIX).split("__").ignore(NON_CONFIG_ENV));

    figment.extract().map_err(describe)
}

/// Turns figment's first error into one that names the key and where it came from.
fn describe(err: figment::Error) -> ConfigError {
    let source = err
        .metadata
        .as_ref()
        .map(|m| match &m.source {
            Some(figment::Source::File(path)) => format!(" (in {})", path.display()),
            _ if m.name.contains("environment") => " (from the environment)".to_owned(),
            _ => String::new(),
        })
        .unwrap_or_default();
    let mut path = err.path.clone();
    let message = match &err.kind {
        Kind::UnknownField(field, expected) => {
            path.push(field.clone());
            if expected.is_empty() {
                format!("unknown key{source}")
            } else {
                format!(
                    "unknown key{source}; expected one of: {}",
                    expected.join(", ")
                )
            }
        }
        Kind::UnknownVariant(value, expected) => {
            format!(
                "unknown value `{value}`{source}; expected one of: {}",
                expected.join(", ")
            )
        }
        other => format!("{other}{source}"),
    };
    let key = if path.is_empty() {
        "(top level)".to_owned()
    } else {
        path.join(".")
    };
    ConfigError::Invalid { key, message }
}
