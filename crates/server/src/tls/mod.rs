//! HTTPS for the server: certificates read from PEM files, swapped without a restart when
//! the files change or on SIGHUP (connections already open keep the certificate they
//! started with), and a listener that completes TLS handshakes off the accept path.
//!
//! rustls with the `ring` provider: a maintained TLS stack, and the provider that builds
//! quickly on two cores (decision 0013).

mod listener;
pub mod self_signed;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

pub use listener::{TlsListener, TlsPeer};

use crate::config::ServerTls;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("`server.tls.cert_file` ({path}): {why}")]
    Certificate { path: String, why: String },
    #[error("`server.tls.key_file` ({path}): {why}")]
    Key { path: String, why: String },
    #[error("`server.tls.client_ca_file` ({path}): {why}")]
    ClientCa { path: String, why: String },
}

/// The server's certificate chain and key, as files and as the rustls configuration new
/// connections get.
pub struct Certificates {
    cert_file: PathBuf,
    key_file: PathBuf,
    /// Agents' client certificates are verified against this CA.
    client_ca_file: Option<PathBuf>,
    current: ArcSwap<ServerConfig>,
    /// With `self_signed`: the development CA the server made.
    development: Option<self_signed::SelfSigned>,
}

impl std::fmt::Debug for Certificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificates")
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .finish_non_exhaustive()
    }
}

impl Certificates {
    /// Reads both files; an unreadable, empty or mismatched pair is refused, naming the
    /// key at fault. A self-signed setup is made under `data_dir` first if missing, for
    /// `names` (DNS names and IP addresses).
    pub fn load(
        tls: &ServerTls,
        data_dir: &Path,
        names: &[String],
    ) -> Result<Certificates, TlsError> {
        let (cert_file, key_file, development) = match (&tls.cert_file, &tls.key_file) {
            (Some(cert), Some(key)) if !tls.self_signed => (cert.clone(), key.clone(), None),
            _ => {
                let made = self_signed::ensure(&data_dir.join("tls"), names)?;
                (made.cert_file.clone(), made.key_file.clone(), Some(made))
            }
        };
        let client_ca_file = tls.client_ca_file.clone();
        let config = server_config(&cert_file, &key_file, client_ca_file.as_deref())?;
        Ok(Certificates {
            cert_file,
            key_file,
            client_ca_file,
            current: ArcSwap::from_pointee(config),
            development,
        })
    }

    /// Whether agents must present a client certificate (`server.tls.client_ca_file`).
    pub fn requires_client_certificates(&self) -> bool {
        self.client_ca_file.is_some()
    }

    /// The development CA's file and fingerprint, with `self_signed`.
    pub fn development_ca(&self) -> Result<Option<(PathBuf, String)>, TlsError> {
        self.development
            .as_ref()
            .map(|made| Ok((made.ca_file.clone(), made.fingerprint()?)))
            .transpose()
    }

    /// What a new connection is offered.
    pub fn current(&self) -> Arc<ServerConfig> {
        self.current.load_full()
    }

    /// Reads the files again and, when they make a valid pair, serves them to new
    /// connections. A bad pair is logged and the current one kept.
    pub fn reload(&self) -> bool {
        match server_config(
            &self.cert_file,
            &self.key_file,
            self.client_ca_file.as_deref(),
        ) {
            Ok(config) => {
                self.current.store(Arc::new(config));
                tracing::info!(cert_file = %self.cert_file.display(), "serving the TLS certificate read from disk");
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "the TLS certificate on disk is not usable; still serving the previous one");
                false
            }
        }
    }

    /// Reloads when either file changes (checked every `every`) or on SIGHUP, until the
    /// server stops.
    pub fn spawn_reloader(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let certs = Arc::clone(self);
        tokio::spawn(async move {
            let mut seen = certs.stamp();
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut hangups = hangups();
            loop {
                let signalled = tokio::select! {
                    _ = ticks.tick() => false,
                    Some(()) = next(&mut hangups) => true,
                };
                let now = certs.stamp();
                if signalled || now != seen {
                    // Written in two steps (certificate, key): a mismatch in between is
                    // retried at the next look, since the stamp is only kept on success.
                    if certs.reload() || signalled {
                        seen = now;
                    }
                }
            }
        })
    }

    /// When and how big both files are: a change in either means a new pair.
    fn stamp(&self) -> [(Option<SystemTime>, u64); 2] {
        [&self.cert_file, &self.key_file].map(|path| {
            std::fs::metadata(path)
                .map(|m| (m.modified().ok(), m.len()))
                .unwrap_or((None, 0))
        })
    }
}

#[cfg(unix)]
type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangups = Option<()>;

#[cfg(unix)]
fn hangups() -> Hangups {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
}

#[cfg(not(unix))]
fn hangups() -> Hangups {
    None
}

#[cfg(unix)]
async fn next(hangups: &mut Hangups) -> Option<()> {
    match hangups {
        Some(signal) => signal.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn next(_: &mut Hangups) -> Option<()> {
    std::future::pending().await
}

fn server_config(
    cert_file: &Path,
    key_file: &Path,
    client_ca_file: Option<&Path>,
) -> Result<ServerConfig, TlsError> {
    let cert_err = |why: String| TlsError::Certificate {
        path: cert_file.display().to_string(),
        why,
    };
    let key_err = |why: String| TlsError::Key {
        path: key_file.display().to_string(),
        why,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_file)
        .map_err(|e| cert_err(pem_reason(&e)))?
        .collect::<Result<_, _>>()
        .map_err(|e| cert_err(pem_reason(&e)))?;
    if chain.is_empty() {
        return Err(cert_err("holds no PEM certificate".into()));
    }
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| key_err(pem_reason(&e)))?;
    let provider = Arc::new(provider());
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| cert_err(e.to_string()))?;
    let builder = match client_ca_file {
        None => builder.with_no_client_auth(),
        Some(path) => builder.with_client_cert_verifier(client_verifier(path, provider)?),
    };
    let mut config = builder.with_single_cert(chain, key).map_err(|e| {
        key_err(format!(
            "does not match the certificate, or is not usable: {e}"
        ))
    })?;
    // The server speaks HTTP/1.1 (axum without its http2 feature).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Verifies client certificates against the CAs in `path` when a client sends one; a
/// client that sends none is let through here, and the agent routes refuse it
/// (operators, browsers and the CLI have no client certificate).
fn client_verifier(
    path: &Path,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TlsError> {
    let failed = |why: String| TlsError::ClientCa {
        path: path.display().to_string(),
        why,
    };
    // Read as every client of ours reads a CA file.
    let certs = tenantry_client::tls::read_ca_file(path).map_err(|e| failed(e.to_string()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in certs {
        roots.add(cert).map_err(|e| failed(e.to_string()))?;
    }
    rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .allow_unauthenticated()
        .build()
        .map_err(|e| failed(e.to_string()))
}

/// Makes [`provider`] the process's default, for any TLS client built without one of its
/// own (reqwest's). Idempotent.
pub fn install_default_provider() {
    let _ = rustls::crypto::CryptoProvider::install_default(provider());
}

/// rustls's `ring` provider. Deprecated upstream only because `ring` has no post-quantum
/// key exchange; `aws-lc-rs`, which has, takes several times longer to build here
/// (decision 0013).
#[allow(deprecated)]
pub fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

fn pem_reason(e: &rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(io) => format!("cannot be read: {io}"),
        rustls::pki_types::pem::Error::NoItemsFound => {
            "holds no PEM item of the expected kind".into()
        }
        other => format!("is not valid PEM: {other:?}"),
    }
}
