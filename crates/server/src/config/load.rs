use std::path::{Path, PathBuf};

use figment::Figment;
use figment::error::Kind;
use figment::providers::{Env, Format, Serialized, Yaml};

use super::Config;

/// Every configuration key can be set as `TENANTRY_SECTION__KEY`.
pub const ENV_PREFIX: &str = "TENANTRY_";

/// `TENANTRY_*` variables that configure the CLI rather than the server; not config keys.
pub const NON_CONFIG_ENV: &[&str] = &["config", "api_key", "server_url", "ca_file", "crash_after"];

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

    let sections = sections();
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    if let Some(file) = &file {
        figment = figment.merge(Yaml::file_exact(file));
    }
    let known = sections.clone();
    figment = figment.merge(
        Env::prefixed(ENV_PREFIX)
            .split("__")
            .ignore(NON_CONFIG_ENV)
            .filter(move |key| addresses_config(key.as_str(), &known)),
    );

    let mut config: Config = figment.extract().map_err(describe)?;
    config.ignored_env = foreign_env(std::env::vars_os().map(|(k, _)| k), &sections);
    Ok(config)
}

/// The configuration's top-level keys.
fn sections() -> Vec<String> {
    match serde_json::to_value(Config::default()) {
        Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// The top-level key an environment key (`registry.url`, `registry__url`, `data_dir`) sets.
fn section_of(key: &str) -> String {
    let first = key.split('.').next().unwrap_or(key);
    first
        .split("__")
        .next()
        .unwrap_or(first)
        .to_ascii_lowercase()
}

/// Whether an environment key (prefix stripped) is meant for the configuration: it names
/// a top-level key, or a nested one (`SECTION__KEY`, which no other tool's variable has).
fn addresses_config(key: &str, sections: &[String]) -> bool {
    key.contains('.') || key.contains("__") || sections.contains(&section_of(key))
}

/// `TENANTRY_*` variables that are neither configuration keys nor CLI settings. Other
/// tools use the prefix too (scripts set `TENANTRY_BIN`), so a variable that names no
/// top-level key is reported at start and otherwise ignored; one in the nested
/// `SECTION__KEY` form is meant for the configuration, and an unknown one stops the
/// server like any unknown key.
fn foreign_env(
    names: impl Iterator<Item = std::ffi::OsString>,
    sections: &[String],
) -> Vec<String> {
    let mut foreign: Vec<String> = names
        .filter_map(|name| name.into_string().ok())
        .filter(|name| {
            let Some(key) = name
                .get(..ENV_PREFIX.len())
                .filter(|p| p.eq_ignore_ascii_case(ENV_PREFIX))
                .map(|_| &name[ENV_PREFIX.len()..])
            else {
                return false;
            };
            let key = key.to_ascii_lowercase();
            !NON_CONFIG_ENV.contains(&key.as_str()) && !addresses_config(&key, sections)
        })
        .collect();
    foreign.sort();
    foreign
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
            // Figment's path already ends with the unknown key where it read one.
            if path.last() != Some(field) {
                path.push(field.clone());
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> impl Iterator<Item = std::ffi::OsString> {
        list.iter()
            .map(std::ffi::OsString::from)
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn only_variables_that_address_no_key_are_foreign() {
        let sections = sections();
        assert!(sections.contains(&"data_dir".to_owned()), "{sections:?}");
        let found = foreign_env(
            names(&[
                "TENANTRY_BIN",
                "TENANTRY_DATA_DIR",
                "TENANTRY_REGISTRY__URL",
                "TENANTRY_SERVR__LISTEN",
                "TENANTRY_CONFIG",
                "TENANTRY_API_KEY",
                "PATH",
                "tenantry_other",
            ]),
            &sections,
        );
        assert_eq!(found, ["TENANTRY_BIN", "tenantry_other"]);
    }

    /// The key an error names for this YAML.
    fn named_key(yaml: &str) -> Option<String> {
        let figment =
            Figment::from(Serialized::defaults(Config::default())).merge(Yaml::string(yaml));
        match figment.extract::<Config>().map_err(describe) {
            Err(ConfigError::Invalid { key, .. }) => Some(key),
            _ => None,
        }
    }

    #[test]
    fn an_unknown_key_is_named_once() {
        assert_eq!(named_key("queue:\n  url: x\n").as_deref(), Some("queue"));
        assert_eq!(
            named_key("registry:\n  urll: x\n").as_deref(),
            Some("registry.urll")
        );
    }
}
