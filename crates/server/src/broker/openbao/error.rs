//! What can go wrong talking to OpenBAO, and which of it is an outage.

#[derive(Debug, thiserror::Error)]
pub enum BaoError {
    #[error("OpenBAO is unreachable: {0}")]
    Unreachable(String),
    #[error("cannot set up the OpenBAO client: {0}")]
    Setup(String),
    #[error("OpenBAO has nothing at {0}")]
    NotFound(String),
    #[error("OpenBAO refused {path} ({status}): {message}")]
    Refused {
        path: String,
        status: u16,
        message: String,
    },
    #[error("OpenBAO answered {path} with something unexpected: {message}")]
    Unexpected { path: String, message: String },
}

impl BaoError {
    /// Whether OpenBAO could not be reached at all (or is sealed / not ready).
    pub fn is_unavailable(&self) -> bool {
        match self {
            BaoError::Unreachable(_) => true,
            BaoError::Refused { status, .. } => *status == 503,
            _ => false,
        }
    }

    pub(super) fn is_permission_denied(&self) -> bool {
        matches!(self, BaoError::Refused { status: 403, .. })
    }
}
