//! Sessions are stored sealed: AES-256-GCM under a key derived (HKDF-SHA256) from the
//! session id, which only the browser's cookie holds. The store sees the id's SHA-256 and
//! ciphertext; a copy of it (a registry backup, a Redis dump) opens no session and shows no
//! credential.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf::{HKDF_SHA256, Salt};

const SALT: &[u8] = b"tenantry ui session v1";

#[derive(Debug, thiserror::Error)]
#[error("a session could not be sealed or opened")]
pub struct SealError;

fn key(id: &str) -> Result<LessSafeKey, SealError> {
    let prk = Salt::new(HKDF_SHA256, SALT).extract(id.as_bytes());
    let okm = prk
        .expand(&[b"seal"], &AES_256_GCM)
        .map_err(|_| SealError)?;
    Ok(LessSafeKey::new(UnboundKey::from(okm)))
}

/// `nonce ‖ ciphertext ‖ tag`, with a fresh random nonce.
pub fn seal(id: &str, plain: &[u8]) -> Result<Vec<u8>, SealError> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|_| SealError)?;
    let mut data = plain.to_vec();
    key(id)?
        .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut data)
        .map_err(|_| SealError)?;
    let mut out = nonce.to_vec();
    out.extend(data);
    Ok(out)
}

/// The plaintext, if `sealed` was sealed under this id and not changed since.
pub fn open(id: &str, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
    if sealed.len() < NONCE_LEN {
        return Err(SealError);
    }
    let (nonce, data) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError)?;
    let mut data = data.to_vec();
    let plain = key(id)?
        .open_in_place(nonce, Aad::empty(), &mut data)
        .map_err(|_| SealError)?;
    Ok(plain.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_id_opens_and_a_changed_byte_is_refused() {
        let sealed = seal("id-one", b"the credential").unwrap_or_default();
        assert!(!sealed.windows(14).any(|w| w == b"the credential"));
        assert_eq!(
            open("id-one", &sealed).ok().as_deref(),
            Some(&b"the credential"[..])
        );
        assert!(open("id-two", &sealed).is_err());
        let mut changed = sealed.clone();
        if let Some(last) = changed.last_mut() {
            *last ^= 1;
        }
        assert!(open("id-one", &changed).is_err());
    }
}
