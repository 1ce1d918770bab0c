//! `serve --dev-tls` (`server.tls.self_signed: true`): a CA and a server certificate made
//! under `<data_dir>/tls` on the first start and reused after, so a trial deployment serves
//! HTTPS in one command. Clients trust it by the CA file or by its fingerprint, which the
//! server prints at every start. Keys are written 0600.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::TlsError;
use crate::secret::write_private;

/// The files of a self-signed setup.
#[derive(Debug, Clone)]
pub struct SelfSigned {
    /// The CA clients trust (give it to them, or its fingerprint).
    pub ca_file: PathBuf,
    /// The server's certificate, then the CA's: a pinned client finds the CA in the chain.
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

impl SelfSigned {
    /// The CA's SHA-256 fingerprint, as `openssl x509 -fingerprint -sha256` prints it.
    pub fn fingerprint(&self) -> Result<String, TlsError> {
        let ca =
            CertificateDer::from_pem_file(&self.ca_file).map_err(|e| failed(&self.ca_file, e))?;
        Ok(tenantry_client::tls::Fingerprint::of(&ca).to_string())
    }
}

fn failed(path: &Path, why: impl std::fmt::Display) -> TlsError {
    TlsError::Certificate {
        path: path.display().to_string(),
        why: why.to_string(),
    }
}

/// The self-signed files under `dir`, made when missing. `names` are the DNS names and IP
/// addresses the server certificate is for.
pub fn ensure(dir: &Path, names: &[String]) -> Result<SelfSigned, TlsError> {
    let files = SelfSigned {
        ca_file: dir.join("ca.pem"),
        cert_file: dir.join("server.pem"),
        key_file: dir.join("server.key"),
    };
    if files.ca_file.is_file() && files.cert_file.is_file() && files.key_file.is_file() {
        return Ok(files);
    }
    std::fs::create_dir_all(dir).map_err(|e| failed(dir, e))?;
    let rcgen_failed = |e: rcgen::Error| failed(dir, format!("cannot make a certificate: {e}"));

    let ca_key = KeyPair::generate().map_err(rcgen_failed)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(rcgen_failed)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "Tenantry development CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).map_err(rcgen_failed)?;

    let server_key = KeyPair::generate().map_err(rcgen_failed)?;
    let mut server = CertificateParams::new(names.to_vec()).map_err(rcgen_failed)?;
    server
        .distinguished_name
        .push(DnType::CommonName, "Tenantry development server");
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let issuer = Issuer::new(ca, &ca_key);
    let server_cert = server
        .signed_by(&server_key, &issuer)
        .map_err(rcgen_failed)?;

    // Keys first (0600, never overwritten), certificates last: a start interrupted in
    // between finds no complete set and makes a new one.
    for path in [&files.key_file, &dir.join("ca.key")] {
        let _ = std::fs::remove_file(path);
    }
    write_private(&files.key_file, &server_key.serialize_pem())
        .map_err(|e| failed(&files.key_file, e))?;
    write_private(&dir.join("ca.key"), &ca_key.serialize_pem())
        .map_err(|e| failed(&dir.join("ca.key"), e))?;
    let chain = format!("{}{}", server_cert.pem(), ca_cert.pem());
    std::fs::write(&files.cert_file, chain).map_err(|e| failed(&files.cert_file, e))?;
    std::fs::write(&files.ca_file, ca_cert.pem()).map_err(|e| failed(&files.ca_file, e))?;
    Ok(files)
}
