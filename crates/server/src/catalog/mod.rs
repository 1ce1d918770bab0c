//! The catalog: the registry partition's tables (tenants, domains, versions, audit, keys).
//!
//! Every registry read and write goes through this facade, each as one named operation
//! that [`measure`] times and retries; nothing on the request path calls it except to
//! change something (reads come from the routing snapshot).

mod api_keys;
mod audit;
mod domains;
mod enrollment_tokens;
mod host_bindings;
mod lifecycle;
pub mod measure;
mod plans;
mod tenants;
mod trusted_keys;
mod ui_sessions;
mod versions;

pub use audit::NewAuditEvent;
pub use enrollment_tokens::{EnrollmentTokenRecord, NewEnrollmentToken};
pub use host_bindings::{Binding, EnrollError, UsableToken};
pub use lifecycle::{DEAD_PEER, RegistryLease};
pub use plans::PlanRecord;
pub use tenants::{NewTenant, TenantRecord};
pub use trusted_keys::TrustedKeyRecord;

use measure::op;

use crate::store::{Backend, Db};

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("{0} already exists")]
    Conflict(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A guarded status change found the tenant in another status than expected.
    #[error("the tenant's status changed meanwhile")]
    StatusChanged,
    #[error("registry database error: {0}")]
    Db(#[from] sqlx::Error),
}

/// The registry partition.
#[derive(Clone, Debug)]
pub struct Catalog {
    db: Db,
    metrics: std::sync::Arc<measure::CatalogMetrics>,
    /// Sent with this process's change announcements, so it can tell them from others'.
    origin: std::sync::Arc<str>,
}

/// The channel on which catalog changes are announced to other server processes.
pub const ROUTING_CHANNEL: &str = "tenantry_routing";

impl Catalog {
    /// Tells other processes on this registry that the routing tables changed.
    pub async fn notify_routing_changed(&self) -> Result<(), CatalogError> {
        // SQLite has one process per data directory: nobody to tell.
        if self.db.backend() == Backend::Postgres {
            op!(self, "notify_routing_changed", Write, pool => {
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(ROUTING_CHANNEL)
                    .bind(&*self.origin)
                    .execute(pool)
                    .await?
                    .rows_affected()
            });
        }
        Ok(())
    }

    pub fn new(db: Db) -> Self {
        Catalog {
            db,
            metrics: std::sync::Arc::default(),
            origin: uuid::Uuid::now_v7().to_string().into(),
        }
    }

    /// The payload of this process's change announcements.
    pub fn origin(&self) -> &str {
        &self.origin
    }
}
