//! How the client trusts a server over HTTPS: the system's roots plus any CA file given
//! (`--ca-file`, `TENANTRY_CA_FILE`), with rustls and `ring`. Hostnames are always
//! verified; there is no switch to turn verification off.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
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

/// A client certificate and its key, presented to a server that asks for one (mutual TLS:
/// a server with `server.tls.client_ca_file` asks its agents).
pub struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Identity([redacted])")
    }
}

impl Identity {
    pub fn from_files(cert_file: &Path, key_file: &Path) -> Result<Identity, TlsSetupError> {
        let chain = read_ca_file(cert_file)?;
        let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| TlsSetupError::CaFile {
            path: key_file.display().to_string(),
            why: format!("not a usable private key: {e:?}"),
        })?;
        Ok(Identity { chain, key })
    }
}

/// A rustls client configuration trusting the system's roots and `extra` CAs.
pub fn client_config(extra: &[CertificateDer<'static>]) -> Result<ClientConfig, TlsSetupError> {
    client_config_as(extra, None)
}

/// As [`client_config`], presenting `identity` to a server that asks for a certificate.
pub fn client_config_as(
    extra: &[CertificateDer<'static>],
    identity: Option<Identity>,
) -> Result<ClientConfig, TlsSetupError> {
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
    let builder = ClientConfig::builder_with_provider(Arc::new(provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    Ok(match identity {
        Some(id) => builder.with_client_auth_cert(id.chain, id.key)?,
        None => builder.with_no_client_auth(),
    })
}

/// An HTTP client for the Tenantry API: plain HTTP, or HTTPS trusting the system's roots
/// plus `ca_file`.
pub fn http_client(ca_file: Option<&Path>) -> Result<reqwest::Client, TlsSetupError> {
    http_client_as(ca_file, None)
}

/// As [`http_client`], presenting `identity` to a server that asks for a certificate.
pub fn http_client_as(
    ca_file: Option<&Path>,
    identity: Option<Identity>,
) -> Result<reqwest::Client, TlsSetupError> {
    let extra = match ca_file {
        Some(path) => read_ca_file(path)?,
        None => Vec::new(),
    };
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(client_config_as(&extra, identity)?)
        .build()?)
}

/// A CA pinned by the SHA-256 fingerprint of its certificate (DER), e.g. as printed by
/// `openssl x509 -noout -fingerprint -sha256` (colons and case do not matter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint([u8; 32]);

impl std::str::FromStr for Fingerprint {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex_digits: String = s.chars().filter(|c| *c != ':').collect();
        let bytes = hex::decode(hex_digits.to_ascii_lowercase())
            .map_err(|_| "a SHA-256 fingerprint is 64 hex digits (colons allowed)".to_owned())?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "a SHA-256 fingerprint is 64 hex digits (colons allowed)".to_owned())?;
        Ok(Fingerprint(bytes))
    }
}

impl Fingerprint {
    pub fn of(cert: &CertificateDer<'_>) -> Fingerprint {
        use sha2::Digest;
        Fingerprint(sha2::Sha256::digest(cert.as_ref()).into())
    }
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|b| format!("{b:02X}")).collect();
        f.write_str(&parts.join(":"))
    }
}

/// Trusts exactly the CA with this fingerprint, which the server sends in its chain: the
/// chain is verified from that CA, and the hostname against the leaf, as usual. Lets an
/// agent enroll with no CA file shipped to it, only the fingerprint an operator read off
/// the server.
#[derive(Debug)]
struct PinnedCa {
    pin: Fingerprint,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for PinnedCa {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        let Some(ca) = intermediates
            .iter()
            .find(|c| Fingerprint::of(c) == self.pin)
        else {
            return Err(rustls::Error::General(format!(
                "the server sent no CA certificate with the pinned fingerprint {}",
                self.pin
            )));
        };
        let mut roots = RootCertStore::empty();
        roots
            .add(ca.clone().into_owned())
            .map_err(|e| rustls::Error::General(format!("the pinned CA is not usable: {e}")))?;
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::clone(&self.provider),
        )
        .build()
        .map_err(|e| rustls::Error::General(e.to_string()))?;
        verifier.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// An HTTP client that trusts only the CA with fingerprint `pin`, presenting `identity` to
/// a server that asks for a certificate.
pub fn pinned_http_client(
    pin: Fingerprint,
    identity: Option<Identity>,
) -> Result<reqwest::Client, TlsSetupError> {
    let provider = Arc::new(provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedCa { pin, provider }));
    let config = match identity {
        Some(id) => builder.with_client_auth_cert(id.chain, id.key)?,
        None => builder.with_no_client_auth(),
    };
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .build()?)
}

/// Whether a failed request failed in the TLS handshake, which rustls refused (or was
/// refused by the peer's alert): retrying gives the same answer until a certificate or the
/// configuration changes.
pub fn is_handshake_refusal(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(err) = next {
        if err.is::<rustls::Error>() {
            return true;
        }
        // tokio-rustls hands rustls' error up inside I/O errors (hyper wraps it in another),
        // and an I/O error's `source()` skips what it wraps: descend into it instead. Some
        // clients (redis) share errors as `Arc<dyn Error>`, which hides the type: unwrap it.
        type Shared = std::sync::Arc<dyn std::error::Error + Send + Sync>;
        next = if let Some(io) = err.downcast_ref::<std::io::Error>() {
            io.get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static))
        } else if let Some(shared) = err.downcast_ref::<Shared>() {
            Some(&**shared as &(dyn std::error::Error + 'static))
        } else {
            err.source()
        };
    }
    false
}
