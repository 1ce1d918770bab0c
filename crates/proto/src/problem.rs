use serde::{Deserialize, Serialize};

/// An RFC 9457 problem document, the body of every error response
/// (`Content-Type: application/problem+json`).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the problem type: `urn:tenantry:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code; see the README's list.
    pub code: String,
    /// The request id, also sent as the `x-request-id` response header.
    #[serde(default)]
    pub request_id: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.title, self.code, self.detail)
    }
}
