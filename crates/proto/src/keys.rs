use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A public key in the trust store.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TrustedKey {
    /// Hex SHA-256 of the key's SubjectPublicKeyInfo DER.
    pub kid: String,
    /// `RS256` or `EdDSA`: the only algorithm tokens signed with this key may use.
    pub algorithm: String,
    /// Tokens signed with this key may only name this tenant.
    pub tenant: Option<String>,
    pub comment: String,
    /// The public key, PEM.
    pub public_key: String,
    pub created_at: DateTime<Utc>,
}

/// `POST /api/v1/keys` as JSON (a bare PEM body is accepted too).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddKey {
    /// An RSA (≥ 2048 bits) or Ed25519 public key, PEM. Private keys are refused.
    pub public_key: String,
    #[serde(default)]
    pub tenant: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminTokenRequest {
    /// Lifetime like `15m` or `1h` (at most `24h`); default `1h`.
    #[serde(default)]
    pub ttl: Option<String>,
}

/// A token minted by the server.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IssuedToken {
    pub token: String,
    pub tenant: String,
    pub role: String,
    pub expires_at: DateTime<Utc>,
}
