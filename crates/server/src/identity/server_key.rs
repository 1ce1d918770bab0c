//! The server's own signing key, for the tokens it mints (tenant-admin recovery tokens).
//! Created on first start as Ed25519 in `<data_dir>/server-signing-key.pem` with mode 0600;
//! its public half is in the trust store like any other key.

use std::path::Path;

use super::keys::{KeyAlg, PrivateKey};

#[derive(Debug, thiserror::Error)]
pub enum ServerKeyError {
    #[error("cannot read or write the server signing key {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("the server signing key {path} is not a usable private key")]
    Invalid { path: String },
}

pub const FILE: &str = "server-signing-key.pem";

pub fn load_or_create(data_dir: &Path) -> Result<PrivateKey, ServerKeyError> {
    let path = data_dir.join(FILE);
    let io = |source| ServerKeyError::Io {
        path: path.display().to_string(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(pem) => PrivateKey::from_pem(&pem).map_err(|_| ServerKeyError::Invalid {
            path: path.display().to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = PrivateKey::generate(KeyAlg::EdDsa).map_err(|_| ServerKeyError::Invalid {
                path: path.display().to_string(),
            })?;
            crate::secret::write_private(&path, key.pem().expose()).map_err(io)?;
            Ok(key)
        }
        Err(e) => Err(io(e)),
    }
}
