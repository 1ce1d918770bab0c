//! Who is calling: turns the `Authorization` header into a [`Principal`].

pub mod policy;

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;

pub use crate::identity::Principal;
use crate::identity::VerifiedTokens;
use crate::identity::token::TokenError;
use crate::routing::RoutingSnapshot;
use crate::secret::api_key;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("Authorization header missing")]
    Missing,
    #[error("send one Authorization header, not several")]
    Ambiguous,
    #[error("the Authorization header must be `Bearer <credential>`")]
    Malformed,
    #[error("invalid API key")]
    InvalidApiKey,
    #[error("{0}")]
    Token(#[from] TokenError),
}

/// Host credentials are `tnth_` + a JWT signed by the server's own key.
pub const HOST_CREDENTIAL_PREFIX: &str = "tnth_";

/// A header sent more than once where one value must decide.
#[derive(Debug)]
pub struct Repeated;

/// The one value of header `name`, if it was sent; never a pick among several.
pub fn one_value<'h>(
    headers: &'h HeaderMap,
    name: &str,
) -> Result<Option<&'h axum::http::HeaderValue>, Repeated> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    match values.next() {
        Some(_) => Err(Repeated),
        None => Ok(first),
    }
}

/// The credential of `Authorization: Bearer <credential>`.
pub fn bearer(headers: &HeaderMap) -> Result<&str, AuthError> {
    let value = one_value(headers, AUTHORIZATION.as_str())
        .map_err(|Repeated| AuthError::Ambiguous)?
        .ok_or(AuthError::Missing)?;
    let value = value.to_str().map_err(|_| AuthError::Malformed)?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .ok_or(AuthError::Malformed)
}

/// Authenticates the request: an operator key, a host credential (signed by the server's
/// key, `server_kid`), or a token signed by a trusted key. `tokens` remembers signatures
/// already checked.
pub fn authenticate(
    headers: &HeaderMap,
    snapshot: &RoutingSnapshot,
    tokens: &VerifiedTokens,
    audience: Option<&str>,
    server_kid: &str,
) -> Result<Principal, AuthError> {
    let credential = bearer(headers)?;
    if let Some(jwt) = credential.strip_prefix(HOST_CREDENTIAL_PREFIX) {
        let claims = tokens.verify_host(jwt, |kid| snapshot.trusted_key(kid), server_kid)?;
        same_incarnation(snapshot, &claims.tenant, claims.tid, claims.iat)?;
        let host_id = uuid::Uuid::parse_str(&claims.sub)
            .map_err(|_| TokenError::BadClaims("`sub` is not a host id".into()))?;
        return Ok(Principal::Host {
            tenant: claims.tenant,
            host_id,
            expires: claims.exp,
        });
    }
    if credential.starts_with(api_key::PREFIX) {
        let hash = api_key::hash(credential);
        if snapshot.is_operator_key(&hash) {
            return Ok(Principal::Operator {
                key_id: api_key::fingerprint(&hash),
            });
        }
        return Err(AuthError::InvalidApiKey);
    }
    let verified = tokens.verify(credential, |kid| snapshot.trusted_key(kid), audience)?;
    same_incarnation(
        snapshot,
        &verified.claims.tenant,
        verified.claims.tid,
        verified.claims.iat,
    )?;
    Ok(Principal::Tenant {
        tenant: verified.claims.tenant,
        role: verified.claims.role,
        subject: verified.claims.sub,
        kid: verified.kid,
    })
}

/// Refuses a credential issued to an earlier tenant of the same slug (DESIGN.md §4): one
/// that names another tenant id, or, naming none, was issued before this tenant was
/// created. A slug nobody holds now is left to resolution (404).
fn same_incarnation(
    snapshot: &RoutingSnapshot,
    tenant: &str,
    tenant_id: Option<uuid::Uuid>,
    issued_at: u64,
) -> Result<(), TokenError> {
    let Some(route) = snapshot.tenant(tenant) else {
        return Ok(());
    };
    let replaced = match tenant_id {
        Some(id) => id != route.id,
        None => i64::try_from(issued_at).unwrap_or(i64::MAX) < route.created_at,
    };
    if replaced {
        return Err(TokenError::TenantReplaced(tenant.to_owned()));
    }
    Ok(())
}
