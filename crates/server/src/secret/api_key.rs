//! Operator API keys: `tnt_` + random characters, stored and compared only as SHA-256.
//!
//! A plain hash (no salt, no stretching) is right here: keys are 40 random characters,
//! so there is nothing to brute-force, and hashing must stay cheap on every request.

use sha2::{Digest, Sha256};

use crate::secret::Secret;

pub const PREFIX: &str = "tnt_";
const MIN_RANDOM: usize = 32;
const GENERATED_RANDOM: usize = 40;
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A new random operator key.
pub fn generate() -> Result<Secret, getrandom::Error> {
    generate_with_prefix(PREFIX)
}

/// `prefix` + 40 random letters and digits (about 238 bits), e.g. enrollment tokens.
pub fn generate_with_prefix(prefix: &str) -> Result<Secret, getrandom::Error> {
    let want = prefix.len() + GENERATED_RANDOM;
    let mut key = String::with_capacity(want);
    key.push_str(prefix);
    // Rejection sampling keeps every character equally likely.
    let limit = 256 - (256 % ALPHABET.len());
    let mut buf = [0u8; 64];
    while key.len() < want {
        getrandom::fill(&mut buf)?;
        for b in buf {
            if usize::from(b) < limit && key.len() < want {
                key.push(char::from(ALPHABET[usize::from(b) % ALPHABET.len()]));
            }
        }
    }
    Ok(Secret::new(key))
}

/// Hex SHA-256 of the whole key.
pub fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A short, non-secret name for a key, derived from its hash, for audit and logs.
pub fn fingerprint(hash: &str) -> String {
    hash.chars().take(8).collect()
}

/// Checks the `tnt_` + at least 32 alphanumeric characters form.
pub fn validate_format(key: &str) -> Result<(), String> {
    let Some(rest) = key.strip_prefix(PREFIX) else {
        return Err(format!("an API key starts with `{PREFIX}`"));
    };
    if rest.len() < MIN_RANDOM {
        return Err(format!(
            "an API key has at least {MIN_RANDOM} characters after `{PREFIX}`"
        ));
    }
    if !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err("an API key holds only letters and digits after the prefix".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_valid_and_distinct() {
        let a = generate()
            .map(|s| s.expose().to_owned())
            .unwrap_or_default();
        let b = generate()
            .map(|s| s.expose().to_owned())
            .unwrap_or_default();
        assert!(validate_format(&a).is_ok(), "{a}");
        assert_eq!(a.len(), PREFIX.len() + GENERATED_RANDOM);
        assert_ne!(a, b);
    }

    #[test]
    fn format_rules() {
        assert!(validate_format("tnt_short").is_err());
        assert!(validate_format(&format!("xyz_{}", "a".repeat(40))).is_err());
        assert!(validate_format(&format!("tnt_{}!", "a".repeat(40))).is_err());
        assert!(validate_format(&format!("tnt_{}", "a".repeat(32))).is_ok());
    }
}
