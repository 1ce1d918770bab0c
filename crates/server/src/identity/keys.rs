//! Keys: parsing public keys (and refusing private ones), deriving a kid, generating
//! keypairs and reading private keys for signing.
//!
//! The kid is the lowercase hex SHA-256 of the public key's SubjectPublicKeyInfo DER — the
//! same bytes `openssl pkey -pubin -outform DER` prints — so anyone can compute it.

use std::fmt;

use ed25519_dalek::pkcs8::{
    DecodePrivateKey as _, DecodePublicKey as _, EncodePrivateKey as _, EncodePublicKey as _,
};
use rsa::pkcs1::{DecodeRsaPrivateKey as _, DecodeRsaPublicKey as _};
use rsa::pkcs8::LineEnding;
use sha2::{Digest, Sha256};

use crate::secret::Secret;

/// The signature algorithms the trust store accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlg {
    Rs256,
    EdDsa,
}

impl KeyAlg {
    /// The JOSE name (`alg`).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlg::Rs256 => "RS256",
            KeyAlg::EdDsa => "EdDSA",
        }
    }

    pub fn parse(name: &str) -> Option<KeyAlg> {
        match name {
            "RS256" => Some(KeyAlg::Rs256),
            "EdDSA" => Some(KeyAlg::EdDsa),
            _ => None,
        }
    }

    pub fn jwt(self) -> jsonwebtoken::Algorithm {
        match self {
            KeyAlg::Rs256 => jsonwebtoken::Algorithm::RS256,
            KeyAlg::EdDsa => jsonwebtoken::Algorithm::EdDSA,
        }
    }
}

impl fmt::Display for KeyAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("this is a private key; send only the public key (it is not stored)")]
    PrivateKeySent,
    #[error("not a PEM public key: {0}")]
    NotAPublicKey(&'static str),
    #[error("not a PEM private key: {0}")]
    NotAPrivateKey(&'static str),
    #[error("RSA keys must have at least 2048 bits")]
    WeakRsa,
    #[error("key generation failed")]
    Generation,
}

/// Most PEM public keys are well under 1 KiB; anything this large is not one.
const MAX_PEM: usize = 16 * 1024;

/// A public key in canonical form.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub alg: KeyAlg,
    /// SubjectPublicKeyInfo, PEM (`-----BEGIN PUBLIC KEY-----`).
    pub pem: String,
    pub kid: String,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({} {})", self.alg, self.kid)
    }
}

impl PublicKey {
    /// Parses an RSA or Ed25519 public key (SPKI, or PKCS#1 `RSA PUBLIC KEY`); refuses
    /// anything that looks like a private key.
    pub fn from_pem(text: &str) -> Result<PublicKey, KeyError> {
        if text.len() > MAX_PEM {
            return Err(KeyError::NotAPublicKey("it is far too long"));
        }
        if text.contains("PRIVATE KEY") {
            return Err(KeyError::PrivateKeySent);
        }
        let text = text.trim();
        if let Ok(key) = rsa::RsaPublicKey::from_public_key_pem(text)
            .or_else(|_| rsa::RsaPublicKey::from_pkcs1_pem(text))
        {
            return Self::from_rsa(&key);
        }
        if let Ok(key) = ed25519_dalek::VerifyingKey::from_public_key_pem(text) {
            return Self::from_ed25519(&key);
        }
        Err(KeyError::NotAPublicKey(
            "expected an RSA (2048 bits or more) or Ed25519 key in PEM",
        ))
    }

    fn from_rsa(key: &rsa::RsaPublicKey) -> Result<PublicKey, KeyError> {
        use rsa::traits::PublicKeyParts as _;
        if key.n().bits() < 2048 {
            return Err(KeyError::WeakRsa);
        }
        let der = key
            .to_public_key_der()
            .map_err(|_| KeyError::NotAPublicKey("unencodable RSA key"))?;
        let pem = key
            .to_public_key_pem(LineEnding::LF)
            .map_err(|_| KeyError::NotAPublicKey("unencodable RSA key"))?;
        Ok(PublicKey {
            alg: KeyAlg::Rs256,
            pem,
            kid: kid(der.as_bytes()),
        })
    }

    fn from_ed25519(key: &ed25519_dalek::VerifyingKey) -> Result<PublicKey, KeyError> {
        let der = key
            .to_public_key_der()
            .map_err(|_| KeyError::NotAPublicKey("unencodable Ed25519 key"))?;
        let pem = key
            .to_public_key_pem(LineEnding::LF)
            .map_err(|_| KeyError::NotAPublicKey("unencodable Ed25519 key"))?;
        Ok(PublicKey {
            alg: KeyAlg::EdDsa,
            pem,
            kid: kid(der.as_bytes()),
        })
    }
}

/// Hex SHA-256 of a SubjectPublicKeyInfo DER.
pub fn kid(spki_der: &[u8]) -> String {
    hex::encode(Sha256::digest(spki_der))
}

/// A private key for signing; its PEM is a [`Secret`].
#[derive(Clone)]
pub struct PrivateKey {
    pub public: PublicKey,
    /// PKCS#8 PEM.
    pem: Secret,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({:?}, [redacted])", self.public)
    }
}

impl PrivateKey {
    /// A new keypair: RSA-2048 or Ed25519.
    pub fn generate(alg: KeyAlg) -> Result<PrivateKey, KeyError> {
        match alg {
            KeyAlg::Rs256 => {
                let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
                    .map_err(|_| KeyError::Generation)?;
                Self::from_rsa(&key)
            }
            KeyAlg::EdDsa => {
                let mut seed = [0u8; 32];
                getrandom::fill(&mut seed).map_err(|_| KeyError::Generation)?;
                Self::from_ed25519(&ed25519_dalek::SigningKey::from_bytes(&seed))
            }
        }
    }

    /// Reads a PKCS#8 (`PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE KEY`) PEM.
    pub fn from_pem(text: &str) -> Result<PrivateKey, KeyError> {
        let text = text.trim();
        if let Ok(key) = rsa::RsaPrivateKey::from_pkcs8_pem(text)
            .or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(text))
        {
            return Self::from_rsa(&key);
        }
        if let Ok(key) = ed25519_dalek::SigningKey::from_pkcs8_pem(text) {
            return Self::from_ed25519(&key);
        }
        Err(KeyError::NotAPrivateKey(
            "expected an unencrypted RSA or Ed25519 key in PEM",
        ))
    }

    fn from_rsa(key: &rsa::RsaPrivateKey) -> Result<PrivateKey, KeyError> {
        use rsa::pkcs8::EncodePrivateKey as _;
        let public = PublicKey::from_rsa(&rsa::RsaPublicKey::from(key))?;
        let pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|_| KeyError::Generation)?;
        Ok(PrivateKey {
            public,
            pem: Secret::new(pem.as_str()),
        })
    }

    fn from_ed25519(key: &ed25519_dalek::SigningKey) -> Result<PrivateKey, KeyError> {
        let public = PublicKey::from_ed25519(&key.verifying_key())?;
        let pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|_| KeyError::Generation)?;
        Ok(PrivateKey {
            public,
            pem: Secret::new(pem.as_str()),
        })
    }

    /// The PKCS#8 PEM, for writing to a 0600 file.
    pub fn pem(&self) -> &Secret {
        &self.pem
    }

    pub(crate) fn encoding_key(
        &self,
    ) -> Result<jsonwebtoken::EncodingKey, jsonwebtoken::errors::Error> {
        let pem = self.pem.expose().as_bytes();
        match self.public.alg {
            KeyAlg::Rs256 => jsonwebtoken::EncodingKey::from_rsa_pem(pem),
            KeyAlg::EdDsa => jsonwebtoken::EncodingKey::from_ed_pem(pem),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ed25519_roundtrip_and_kid_is_stable() {
        let key = PrivateKey::generate(KeyAlg::EdDsa).unwrap_or_else(|e| panic!("{e}"));
        let again = PrivateKey::from_pem(key.pem().expose()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again.public, key.public);
        let public = PublicKey::from_pem(&key.public.pem).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(public.kid, key.public.kid);
        assert_eq!(public.kid.len(), 64);
        assert!(!format!("{key:?}").contains("PRIVATE"));
    }

    #[test]
    fn private_keys_and_garbage_are_refused() {
        let key = PrivateKey::generate(KeyAlg::EdDsa).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            PublicKey::from_pem(key.pem().expose()),
            Err(KeyError::PrivateKeySent)
        );
        assert!(
            PublicKey::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")
                .is_err()
        );
        assert!(PublicKey::from_pem("hello").is_err());
        assert!(PublicKey::from_pem(&"A".repeat(100_000)).is_err());
        assert!(PrivateKey::from_pem(&key.public.pem).is_err());
    }
}
