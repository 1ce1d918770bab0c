//! The recorded steps of creating and deleting a tenant, and the crash point after each.
//!
//! Every step is idempotent, so whatever a crash interrupts, reconcile (on start, or
//! `tenantry tenants reconcile`) finishes by running the sequence again from the top.

/// One finished lifecycle step, as recorded in `registry_tenants.lifecycle_step`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    // Create, in order.
    /// The registry row exists (`provisioning`), with its placement.
    Registered,
    /// The database or schema exists, owned by the tenant's group role.
    Storage,
    /// The broker can issue the tenant's credentials (its OpenBAO role).
    Credentials,
    /// The tenant chain is at the latest version.
    Migrated,
    /// The media directory exists.
    Media,
    // Delete, in order.
    /// The row is `deleting`: no request resolves to the tenant any more.
    Deleting,
    /// Every lease is revoked and the OpenBAO role deleted.
    CredentialsRevoked,
    /// Sessions ended; database or schema and group role dropped.
    StorageDropped,
    MediaRemoved,
    /// Nothing is left; the registry rows go next.
    Verified,
}

impl Step {
    pub const CREATE: [Step; 5] = [
        Step::Registered,
        Step::Storage,
        Step::Credentials,
        Step::Migrated,
        Step::Media,
    ];
    pub const DELETE: [Step; 5] = [
        Step::Deleting,
        Step::CredentialsRevoked,
        Step::StorageDropped,
        Step::MediaRemoved,
        Step::Verified,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Step::Registered => "registered",
            Step::Storage => "storage",
            Step::Credentials => "credentials",
            Step::Migrated => "migrated",
            Step::Media => "media",
            Step::Deleting => "deleting",
            Step::CredentialsRevoked => "credentials_revoked",
            Step::StorageDropped => "storage_dropped",
            Step::MediaRemoved => "media_removed",
            Step::Verified => "verified",
        }
    }
}

/// The environment variable naming a step after which the process aborts: a real crash
/// at an exact point, for the tests that prove reconcile repairs every one. Unset in
/// normal operation.
pub const CRASH_AFTER_ENV: &str = "TENANTRY_CRASH_AFTER";

/// Aborts the process if `CRASH_AFTER_ENV` names this step.
pub fn crash_point(step: Step) {
    static TARGET: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let target = TARGET.get_or_init(|| std::env::var(CRASH_AFTER_ENV).ok());
    if target.as_deref() == Some(step.as_str()) {
        eprintln!("{CRASH_AFTER_ENV}={}: aborting", step.as_str());
        std::process::abort();
    }
}
