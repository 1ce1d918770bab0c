//! Tenant tokens: JWTs with `kid`, `sub`, `tenant`, `role`, `aud`, `iat`, `nbf`, `exp`.
//!
//! Verification reads the header itself first, so that every refusal has a precise
//! reason: `alg: none`, HMAC, unknown or over-long `kid`, a header algorithm that is not
//! the trusted key's. Only then does the signature check run, with the algorithm from the
//! trust store.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{DecodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::keys::{KeyAlg, PrivateKey, PublicKey};

/// What a tenant principal may do in its tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub tenant: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    pub iat: u64,
    pub nbf: u64,
    pub exp: u64,
    /// The id of the tenant the token was issued to, when the issuer knew it (the server's
    /// own tokens always carry it): the token is refused by any other tenant of that slug.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid: Option<uuid::Uuid>,
}

/// A trust store entry, ready to verify with.
#[derive(Clone)]
pub struct TrustedKey {
    pub kid: String,
    pub alg: KeyAlg,
    /// Tokens signed with this key may only name this tenant.
    pub tenant: Option<String>,
    decoding: DecodingKey,
}

impl fmt::Debug for TrustedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TrustedKey({} {} {:?})", self.alg, self.kid, self.tenant)
    }
}

impl TrustedKey {
    pub fn new(
        public: &PublicKey,
        tenant: Option<String>,
    ) -> Result<TrustedKey, jsonwebtoken::errors::Error> {
        let pem = public.pem.as_bytes();
        let decoding = match public.alg {
            KeyAlg::Rs256 => DecodingKey::from_rsa_pem(pem)?,
            KeyAlg::EdDsa => DecodingKey::from_ed_pem(pem)?,
        };
        Ok(TrustedKey {
            kid: public.kid.clone(),
            alg: public.alg,
            tenant,
            decoding,
        })
    }
}

/// A token that verified.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    pub claims: Claims,
    pub kid: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    #[error("tokens with `alg: none` are refused")]
    AlgNone,
    #[error("HMAC-signed tokens are refused; sign with a key in the trust store (RS256 or EdDSA)")]
    Hmac,
    #[error("the token's `alg` ({header}) is not its key's algorithm ({trusted})")]
    AlgorithmMismatch { header: String, trusted: KeyAlg },
    #[error("the token has no `kid` header naming a trusted key")]
    MissingKid,
    #[error("no trusted key has kid {0}")]
    UnknownKid(String),
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token is not for this service (wrong audience)")]
    WrongAudience,
    #[error("the token's claims are invalid: {0}")]
    BadClaims(String),
    #[error("key {kid} may only sign tokens for tenant {allowed}, not {named}")]
    KeyTenantMismatch {
        kid: String,
        allowed: String,
        named: String,
    },
    #[error(
        "the credential was issued to an earlier tenant named {0}, which was deleted; tenant {0} of today does not accept it"
    )]
    TenantReplaced(String),
}

impl TokenError {
    /// The stable `code` for the problem document.
    pub fn code(&self) -> &'static str {
        match self {
            TokenError::Malformed(_) | TokenError::BadClaims(_) => "token_malformed",
            TokenError::AlgNone | TokenError::Hmac | TokenError::AlgorithmMismatch { .. } => {
                "token_algorithm_refused"
            }
            TokenError::MissingKid | TokenError::UnknownKid(_) => "token_unknown_key",
            TokenError::BadSignature => "token_bad_signature",
            TokenError::Expired => "token_expired",
            TokenError::NotYetValid => "token_not_yet_valid",
            TokenError::WrongAudience => "token_wrong_audience",
            TokenError::KeyTenantMismatch { .. } => "token_tenant_not_allowed",
            TokenError::TenantReplaced(_) => tenantry_proto::codes::TOKEN_TENANT_REPLACED,
        }
    }

    /// 403 for a valid signature used beyond its key's reach; 401 otherwise.
    pub fn is_forbidden(&self) -> bool {
        matches!(self, TokenError::KeyTenantMismatch { .. })
    }
}

/// Tokens above this size are refused before any parsing.
pub const MAX_TOKEN: usize = 8 * 1024;
const MAX_KID: usize = 128;

#[derive(Deserialize)]
struct RawHeader {
    alg: Option<String>,
    kid: Option<String>,
}

/// Claims that name the tenant they are for (checked against the key's restriction).
trait ForTenant {
    fn tenant(&self) -> &str;
}

impl ForTenant for Claims {
    fn tenant(&self) -> &str {
        &self.tenant
    }
}

/// The claims of a host credential: minted by the server for one enrolled host.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostClaims {
    /// The host id.
    pub sub: String,
    pub tenant: String,
    /// Always `host`: a tenant token can never pass for one, nor the other way round.
    pub typ: String,
    pub iat: u64,
    pub nbf: u64,
    pub exp: u64,
    /// The id of the tenant the host enrolled into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid: Option<uuid::Uuid>,
}

/// `typ` of a host credential.
pub const HOST_TYP: &str = "host";

impl ForTenant for HostClaims {
    fn tenant(&self) -> &str {
        &self.tenant
    }
}

/// Verifies `token` against keys looked up by kid.
pub fn verify<'k>(
    token: &str,
    lookup: impl Fn(&str) -> Option<&'k TrustedKey>,
    audience: Option<&str>,
) -> Result<VerifiedToken, TokenError> {
    let (claims, kid) = verify_as::<Claims>(token, lookup, audience)?;
    Ok(VerifiedToken { claims, kid })
}

/// Verifies a host credential: signed by the server's own key (`server_kid`) and nothing
/// else, with `typ: host`.
pub fn verify_host<'k>(
    token: &str,
    lookup: impl Fn(&str) -> Option<&'k TrustedKey>,
    server_kid: &str,
) -> Result<HostClaims, TokenError> {
    let (claims, kid) = verify_as::<HostClaims>(token, lookup, None)?;
    if kid != server_kid {
        return Err(TokenError::UnknownKid(kid));
    }
    if claims.typ != HOST_TYP {
        return Err(TokenError::BadClaims(
            "this is not a host credential".into(),
        ));
    }
    Ok(claims)
}

fn verify_as<'k, C: serde::de::DeserializeOwned + ForTenant>(
    token: &str,
    lookup: impl Fn(&str) -> Option<&'k TrustedKey>,
    audience: Option<&str>,
) -> Result<(C, String), TokenError> {
    if token.len() > MAX_TOKEN {
        return Err(TokenError::Malformed("it is longer than 8 KiB"));
    }
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed("a JWT has three dot-separated parts"));
    };
    let header = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| TokenError::Malformed("the header is not base64url"))?;
    let header: RawHeader = serde_json::from_slice(&header)
        .map_err(|_| TokenError::Malformed("the header is not a JSON object"))?;
    let alg = header
        .alg
        .ok_or(TokenError::Malformed("the header has no `alg`"))?;
    if alg.eq_ignore_ascii_case("none") {
        return Err(TokenError::AlgNone);
    }
    if alg.starts_with("HS") {
        return Err(TokenError::Hmac);
    }
    let kid = header.kid.ok_or(TokenError::MissingKid)?;
    if kid.len() > MAX_KID {
        return Err(TokenError::Malformed("the `kid` is too long"));
    }
    let key = lookup(&kid).ok_or_else(|| TokenError::UnknownKid(kid.clone()))?;
    if alg != key.alg.as_str() {
        return Err(TokenError::AlgorithmMismatch {
            header: alg,
            trusted: key.alg,
        });
    }
    let mut validation = Validation::new(key.alg.jwt());
    validation.leeway = LEEWAY;
    validation.validate_nbf = true;
    match audience {
        // A token without `aud` must not pass where an audience is required.
        Some(aud) => {
            validation.set_required_spec_claims(&["exp", "nbf", "iat", "sub", "aud"]);
            validation.set_audience(&[aud]);
        }
        None => {
            validation.set_required_spec_claims(&["exp", "nbf", "iat", "sub"]);
            validation.validate_aud = false;
        }
    }
    let data = jsonwebtoken::decode::<C>(token, &key.decoding, &validation).map_err(|e| match e
        .kind()
    {
        ErrorKind::InvalidSignature => TokenError::BadSignature,
        ErrorKind::ExpiredSignature => TokenError::Expired,
        ErrorKind::ImmatureSignature => TokenError::NotYetValid,
        ErrorKind::InvalidAudience => TokenError::WrongAudience,
        ErrorKind::MissingRequiredClaim(c) if c == "aud" => TokenError::WrongAudience,
        ErrorKind::MissingRequiredClaim(c) => TokenError::BadClaims(format!("`{c}` is missing")),
        ErrorKind::Json(_) | ErrorKind::InvalidClaimFormat(_) => {
            TokenError::BadClaims("they do not match the expected claims".into())
        }
        ErrorKind::Base64(_) | ErrorKind::Utf8(_) | ErrorKind::InvalidToken => {
            TokenError::Malformed("it does not decode")
        }
        _ => TokenError::BadSignature,
    })?;
    if let Some(allowed) = &key.tenant
        && allowed != data.claims.tenant()
    {
        return Err(TokenError::KeyTenantMismatch {
            kid: key.kid.clone(),
            allowed: allowed.clone(),
            named: data.claims.tenant().to_owned(),
        });
    }
    Ok((data.claims, kid))
}

/// Seconds of clock skew allowed on `exp` and `nbf`.
pub const LEEWAY: u64 = 30;

/// Signs claims with a private key; the header names the key's kid.
pub fn mint(
    key: &PrivateKey,
    claims: &impl Serialize,
) -> Result<String, jsonwebtoken::errors::Error> {
    let mut header = Header::new(key.public.alg.jwt());
    header.kid = Some(key.public.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.encoding_key()?)
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod hostile;
