//! Stable machine-readable error codes, the `code` member of every problem document.
//! Clients match on these; never rename one.

pub const UNAUTHORIZED: &str = "unauthorized";
pub const INVALID_CREDENTIALS: &str = "invalid_credentials";
pub const FORBIDDEN: &str = "forbidden";
pub const INVALID_SLUG: &str = "invalid_slug";
pub const INVALID_DOMAIN: &str = "invalid_domain";
pub const INVALID_BODY: &str = "invalid_body";
pub const INVALID_QUERY: &str = "invalid_query";
pub const INVALID_CURSOR: &str = "invalid_cursor";
pub const VALIDATION_FAILED: &str = "validation_failed";
pub const TENANT_EXISTS: &str = "tenant_exists";
pub const TENANT_NOT_FOUND: &str = "tenant_not_found";
pub const TENANT_REQUIRED: &str = "tenant_required";
pub const TENANT_MISMATCH: &str = "tenant_mismatch";
pub const TENANT_SUSPENDED: &str = "tenant_suspended";
pub const TENANT_DELETING: &str = "tenant_deleting";
pub const TENANT_NOT_READY: &str = "tenant_not_ready";
pub const TENANT_PROTECTED: &str = "tenant_protected";
pub const INVALID_STATUS_TRANSITION: &str = "invalid_status_transition";
pub const DOMAIN_EXISTS: &str = "domain_exists";
pub const DOMAIN_NOT_FOUND: &str = "domain_not_found";
pub const HOST_EXISTS: &str = "host_exists";
pub const HOST_NOT_FOUND: &str = "host_not_found";
pub const MULTITENANCY_DISABLED: &str = "multitenancy_disabled";
pub const NOT_FOUND: &str = "not_found";
pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
pub const UNSUPPORTED_MEDIA_TYPE: &str = "unsupported_media_type";
pub const SERVICE_UNAVAILABLE: &str = "service_unavailable";
pub const INTERNAL: &str = "internal_error";
pub const NO_INSTANCE_MATCHES: &str = "no_instance_matches";
pub const INSTANCE_UNAVAILABLE: &str = "instance_unavailable";
pub const ISOLATION_UNSUPPORTED: &str = "isolation_unsupported";
pub const CONNECTION_BUDGET_EXHAUSTED: &str = "connection_budget_exhausted";
