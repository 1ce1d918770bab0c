//! Signatures checked once per token, not once per request.
//!
//! Verifying an Ed25519 or RSA signature costs tens of microseconds, the largest single
//! cost of a routed read (measured: docs/benchmarks.md). Whether a signature is valid is a
//! fact about the token's bytes and the key — and a kid names exactly one public key — so
//! it is remembered under the SHA-256 of the token. Everything that can change is checked
//! again on every use: the key is still trusted, its tenant restriction, `exp` and `nbf`,
//! the audience, and for host credentials that the server's own key signed it.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use sha2::{Digest, Sha256};

use super::token::{self, HostClaims, LEEWAY, TokenError, TrustedKey, VerifiedToken};

/// More remembered tokens than this and the memo starts over (a bound on memory, ~200 bytes
/// an entry; tenants' clients reuse a token for its lifetime, so misses stay rare).
const CAPACITY: usize = 65_536;

enum Checked {
    Tenant(VerifiedToken),
    Host { claims: HostClaims, kid: String },
}

/// Tokens whose signature verified, by SHA-256 of the token.
#[derive(Default)]
pub struct VerifiedTokens {
    by_digest: RwLock<HashMap<[u8; 32], Arc<Checked>>>,
}

/// What is re-checked on every use of a remembered token.
struct Recheck<'a> {
    kid: &'a str,
    tenant: &'a str,
    nbf: u64,
    exp: u64,
    aud: Option<&'a str>,
}

impl VerifiedTokens {
    /// [`token::verify`], remembering the signature check.
    pub fn verify<'k>(
        &self,
        jwt: &str,
        lookup: impl Fn(&str) -> Option<&'k TrustedKey>,
        audience: Option<&str>,
    ) -> Result<VerifiedToken, TokenError> {
        let digest = digest(jwt);
        if let Some(hit) = self.get(&digest)
            && let Checked::Tenant(v) = &*hit
        {
            let c = &v.claims;
            let facts = Recheck {
                kid: &v.kid,
                tenant: &c.tenant,
                nbf: c.nbf,
                exp: c.exp,
                aud: c.aud.as_deref(),
            };
            recheck(&facts, &lookup, audience, token::now())?;
            return Ok(v.clone());
        }
        let verified = token::verify(jwt, &lookup, audience)?;
        self.put(digest, Checked::Tenant(verified.clone()));
        Ok(verified)
    }

    /// [`token::verify_host`], remembering the signature check.
    pub fn verify_host<'k>(
        &self,
        jwt: &str,
        lookup: impl Fn(&str) -> Option<&'k TrustedKey>,
        server_kid: &str,
    ) -> Result<HostClaims, TokenError> {
        let digest = digest(jwt);
        if let Some(hit) = self.get(&digest)
            && let Checked::Host { claims, kid } = &*hit
        {
            if kid != server_kid {
                return Err(TokenError::UnknownKid(kid.clone()));
            }
            let facts = Recheck {
                kid,
                tenant: &claims.tenant,
                nbf: claims.nbf,
                exp: claims.exp,
                aud: None,
            };
            recheck(&facts, &lookup, None, token::now())?;
            return Ok(claims.clone());
        }
        let claims = token::verify_host(jwt, &lookup, server_kid)?;
        let kid = server_kid.to_owned();
        self.put(
            digest,
            Checked::Host {
                claims: claims.clone(),
                kid,
            },
        );
        Ok(claims)
    }

    fn get(&self, digest: &[u8; 32]) -> Option<Arc<Checked>> {
        self.by_digest
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(digest)
            .cloned()
    }

    fn put(&self, digest: [u8; 32], checked: Checked) {
        let mut map = self
            .by_digest
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if map.len() >= CAPACITY {
            map.clear();
        }
        map.insert(digest, Arc::new(checked));
    }
}

fn digest(jwt: &str) -> [u8; 32] {
    Sha256::digest(jwt.as_bytes()).into()
}

/// The checks of [`token::verify`] other than the signature, as of `now`.
fn recheck<'k>(
    facts: &Recheck<'_>,
    lookup: &impl Fn(&str) -> Option<&'k TrustedKey>,
    audience: Option<&str>,
    now: u64,
) -> Result<(), TokenError> {
    let key = lookup(facts.kid).ok_or_else(|| TokenError::UnknownKid(facts.kid.to_owned()))?;
    if let Some(allowed) = &key.tenant
        && allowed != facts.tenant
    {
        return Err(TokenError::KeyTenantMismatch {
            kid: key.kid.clone(),
            allowed: allowed.clone(),
            named: facts.tenant.to_owned(),
        });
    }
    if facts.exp.saturating_add(LEEWAY) < now {
        return Err(TokenError::Expired);
    }
    if facts.nbf > now.saturating_add(LEEWAY) {
        return Err(TokenError::NotYetValid);
    }
    if let Some(want) = audience
        && facts.aud != Some(want)
    {
        return Err(TokenError::WrongAudience);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::token::{Claims, Role, mint};
    use crate::identity::{KeyAlg, PrivateKey};

    fn token_for(key: &PrivateKey, tenant: &str, exp_in: u64) -> String {
        let t = token::now();
        let claims = Claims {
            sub: "ci".into(),
            tenant: tenant.into(),
            role: Role::Admin,
            aud: Some("tenantry".into()),
            iat: t,
            nbf: t,
            exp: t + exp_in,
            tid: None,
        };
        mint(key, &claims).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_remembered_token_is_still_checked_for_everything_but_its_signature() {
        let key = PrivateKey::generate(KeyAlg::EdDsa).unwrap_or_else(|e| panic!("{e}"));
        let trusted = TrustedKey::new(&key.public, None).unwrap_or_else(|e| panic!("{e}"));
        let only_beta =
            TrustedKey::new(&key.public, Some("beta".into())).unwrap_or_else(|e| panic!("{e}"));
        let lookup = |kid: &str| (kid == trusted.kid).then_some(&trusted);
        let memo = VerifiedTokens::default();
        let jwt = token_for(&key, "acme", 60);

        let first = memo.verify(&jwt, lookup, Some("tenantry"));
        assert_eq!(first.map(|v| v.claims.tenant).ok().as_deref(), Some("acme"));
        assert_eq!(memo.by_digest.read().map(|m| m.len()).unwrap_or(0), 1);
        // A hit, and every non-signature check still applies.
        assert!(memo.verify(&jwt, lookup, Some("tenantry")).is_ok());
        assert_eq!(
            memo.verify(&jwt, lookup, Some("other")).err(),
            Some(TokenError::WrongAudience)
        );
        assert!(matches!(
            memo.verify(&jwt, |_| None, Some("tenantry")),
            Err(TokenError::UnknownKid(_))
        ));
        let restricted = |kid: &str| (kid == only_beta.kid).then_some(&only_beta);
        assert!(matches!(
            memo.verify(&jwt, restricted, Some("tenantry")),
            Err(TokenError::KeyTenantMismatch { .. })
        ));
        let hit = memo.get(&digest(&jwt));
        let Some(Checked::Tenant(v)) = hit.as_deref() else {
            panic!("not remembered");
        };
        let facts = Recheck {
            kid: &v.kid,
            tenant: &v.claims.tenant,
            nbf: v.claims.nbf,
            exp: v.claims.exp,
            aud: v.claims.aud.as_deref(),
        };
        let later = v.claims.exp + LEEWAY + 1;
        assert_eq!(
            recheck(&facts, &lookup, None, later).err(),
            Some(TokenError::Expired)
        );
        let earlier = v.claims.nbf.saturating_sub(LEEWAY + 1);
        assert_eq!(
            recheck(&facts, &lookup, None, earlier).err(),
            Some(TokenError::NotYetValid)
        );

        // Other bytes are another token: the signature is checked, and fails.
        let mut forged = jwt.clone();
        forged.pop();
        forged.push(if jwt.ends_with('A') { 'B' } else { 'A' });
        assert!(memo.verify(&forged, lookup, Some("tenantry")).is_err());
    }
}
