//! Secrets and their formats: a leaf every layer may use. A [`Secret`] never appears in
//! logs, `Debug` output or error bodies; [`api_key`] is the operator key format; private
//! files (keys, credentials) are written readable by their owner only.

pub mod api_key;

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A configuration value that must never appear in logs, `Debug` output or error bodies.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself; call only where it is used, never to print it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("[redacted]")
    }
}

/// Text, or a boolean taken as the text it was (`TENANTRY_MEDIA__S3__ALLOW_HTTP=true`
/// reaches the configuration as a boolean). A number is refused rather than guessed at: the
/// environment's `007` would arrive as 7, so it must be quoted (`"007"`).
impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = Secret;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string (quote a value that looks like a number: \"007\")")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Secret, E> {
                Ok(Secret(v.to_owned()))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }
        }
        d.deserialize_any(Text)
    }
}

/// Writes a private key readable only by its owner; never overwrites.
pub fn write_private(path: &Path, pem: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(pem.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_serialize_redact() {
        let s = Secret::new("tnt_supersecret");
        assert!(!format!("{s:?}").contains("supersecret"));
        let json = serde_json::to_string(&s).unwrap_or_default();
        assert!(!json.contains("supersecret"));
        assert_eq!(s.expose(), "tnt_supersecret");
    }

    #[test]
    fn text_and_booleans_are_taken_as_written_and_numbers_refused() {
        let parse = |json: &str| serde_json::from_str::<Secret>(json).map(|s| s.0);
        assert_eq!(parse(r#""007""#).ok().as_deref(), Some("007"));
        assert_eq!(parse("true").ok().as_deref(), Some("true"));
        assert!(parse("7").is_err(), "a number must be quoted");
    }
}
