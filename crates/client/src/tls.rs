//! How the client trusts a server over HTTPS: the system's roots plus any CA file given
//! (`--ca-file`, `TENANTRY_CA_FILE`), with rustls and `ring`. Hostnames are always
//! verified; there is no switch to turn verification off.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};

#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("CA file {path}: {why}")]
    CaFile { path: String, why: String },
    #[error("TLS setup: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("HTTP client setup: {0}")]
    Http(#[from] reqwest::Error),
}

/// rustls's `ring` provider (see the server's `tls::provider` for why `ring`).
#[allow(deprecated)]
pub fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// The certificates of a PEM file, for trusting a private CA.
pub fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let failed = |why: String| TlsSetupError::CaFile {
        path: path.display().to_string(),
        why,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| failed(format!("{e:?}")))?
        .collect::<Result<_, _>>()
        .map_err(|e| failed(format!("{e:?}")))?;
    if certs.is_empty() {
        return Err(failed("holds no PEM certificate".into()));
    }
    Ok(certs)
}

/// A rustls client configuration trusting the system's roots and `extra` CAs.
pub fn client_config(extra: &[CertificateDer<'static>]) -> Result<ClientConfig, TlsSetupError> {
    let mut roots = RootCertStore::empty();
    // A system store that cannot be read leaves only the CA files: say nothing here, the
    // handshake's "unknown issuer" is the error the user can act on.
    let system = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(system.certs);
    for cert in extra {
        roots.add(cert.clone()).map_err(|e| TlsSetupError::CaFile {
            path: "(given)".into(),
            why: e.to_string(),
        })?;
    }
    Ok(ClientConfig::builder_with_provider(Arc::new(provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// An HTTP client for the Tenantry API: plain HTTP, or HTTPS trusting the system's roots
/// plus `ca_file`.
pub fn http_client(ca_file: Option<&Path>) -> Result<reqwest::Client, TlsSetupError> {
    let extra = match ca_file {
        Some(path) => read_ca_file(path)?,
        None => Vec::new(),
    };
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(client_config(&extra)?)
        .build()?)
}
