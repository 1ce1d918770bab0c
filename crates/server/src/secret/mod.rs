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

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
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
}
