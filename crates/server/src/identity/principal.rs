//! Who a request acts as, once its credential is checked.

use super::Role;

/// The caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// Holder of an operator API key; `key_id` is a short, non-secret fingerprint of it.
    Operator { key_id: String },
    /// Holder of a tenant token (JWT) signed by a trusted key.
    Tenant {
        tenant: String,
        role: Role,
        subject: String,
        kid: String,
    },
    /// An enrolled host's agent, with its server-signed host credential.
    Host {
        tenant: String,
        host_id: uuid::Uuid,
        /// When the credential expires (Unix seconds); check-ins renew it in time.
        expires: u64,
    },
    /// Holder of an enrollment token, which may only enroll a host (step 5).
    Enrollment {
        tenant: String,
        token_id: uuid::Uuid,
    },
}

impl Principal {
    /// How the principal appears in audit events and logs.
    pub fn actor(&self) -> String {
        match self {
            Principal::Operator { key_id } => format!("operator:{key_id}"),
            Principal::Tenant {
                tenant,
                role,
                subject,
                ..
            } => format!("tenant-{role}:{tenant}/{subject}"),
            Principal::Host {
                tenant, host_id, ..
            } => format!("host:{tenant}/{host_id}"),
            Principal::Enrollment { tenant, token_id } => format!("enrollment:{tenant}/{token_id}"),
        }
    }

    /// The tenant a tenant principal belongs to.
    pub fn tenant(&self) -> Option<&str> {
        match self {
            Principal::Operator { .. } => None,
            Principal::Tenant { tenant, .. }
            | Principal::Host { tenant, .. }
            | Principal::Enrollment { tenant, .. } => Some(tenant),
        }
    }

    pub fn is_operator(&self) -> bool {
        matches!(self, Principal::Operator { .. })
    }
}
