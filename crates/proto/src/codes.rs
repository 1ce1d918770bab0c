//! Stable machine-readable error codes, the `code` member of every problem document.
//! Clients match on these; never rename one.

pub const UNAUTHORIZED: &str = "unauthorized";
pub const INVALID_CREDENTIALS: &str = "invalid_credentials";
pub const FORBIDDEN: &str = "forbidden";
pub const INVALID_SLUG: &str = "invalid_slug";
pub const INVALID_DOMAIN: &str = "invalid_domain";
pub const INVALID_BODY: &str = "invalid_body";
pub const INVALID_QUERY: &str = "invalid_query";
pub const INVALID_PATH: &str = "invalid_path";
pub const AMBIGUOUS_HEADER: &str = "ambiguous_header";
pub const INVALID_HEADER: &str = "invalid_header";
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
/// This server cannot confirm its routing is current (cut off from the registry's
/// notifications); another server, or this one shortly, can answer.
pub const ROUTING_STALE: &str = "routing_stale";
pub const INTERNAL: &str = "internal_error";
pub const NO_INSTANCE_MATCHES: &str = "no_instance_matches";
pub const INSTANCE_UNAVAILABLE: &str = "instance_unavailable";
pub const CREDENTIAL_BROKER_UNAVAILABLE: &str = "credential_broker_unavailable";
pub const TENANT_BUSY: &str = "tenant_busy";
/// The tenant's request (or check-in) rate is used up; `Retry-After` says when to retry.
pub const RATE_LIMITED: &str = "rate_limited";
/// One of the tenant's statements ran longer than its `statement_timeout_ms` and was
/// cancelled.
pub const STATEMENT_TIMEOUT: &str = "statement_timeout";
/// The tenant's storage is at its `storage_bytes` quota: writes are refused, reads work.
pub const STORAGE_QUOTA_EXCEEDED: &str = "storage_quota_exceeded";
/// A media name breaks the rule (1 to 128 of a-z, A-Z, 0-9, `.`, `_`, `-`; no leading dot).
pub const INVALID_MEDIA_NAME: &str = "invalid_media_name";
pub const MEDIA_NOT_FOUND: &str = "media_not_found";
/// The media store did not answer; nothing was changed.
pub const MEDIA_UNAVAILABLE: &str = "media_unavailable";
/// The upload's body ended early, failed or stalled; nothing was stored.
pub const UPLOAD_INCOMPLETE: &str = "upload_incomplete";
/// The tenant already has as many uploads running as it may.
pub const UPLOADS_BUSY: &str = "uploads_busy";
pub const PLAN_NOT_FOUND: &str = "plan_not_found";
/// The plan is defined in the configuration; change it there.
pub const PLAN_IN_CONFIG: &str = "plan_in_config";
/// Tenants are on the plan; move them to another first.
pub const PLAN_IN_USE: &str = "plan_in_use";
pub const INVALID_ENROLLMENT_TOKEN: &str = "invalid_enrollment_token";
pub const HOST_LIMIT_REACHED: &str = "host_limit_reached";
pub const HOST_UNKNOWN: &str = "host_unknown";
pub const PAYLOAD_TOO_LARGE: &str = "payload_too_large";
pub const TEMPLATE_NOT_FOUND: &str = "template_not_found";
pub const TEMPLATE_EXISTS: &str = "template_exists";
pub const SESSION_NOT_FOUND: &str = "session_not_found";
pub const COMPONENT_NOT_FOUND: &str = "component_not_found";
pub const OPERATOR_ONLY: &str = "operator_only";
pub const ISOLATION_UNSUPPORTED: &str = "isolation_unsupported";
pub const CONNECTION_BUDGET_EXHAUSTED: &str = "connection_budget_exhausted";
pub const STORAGE_BUSY: &str = "storage_busy";
pub const INSUFFICIENT_STORAGE: &str = "insufficient_storage";
pub const KEY_EXISTS: &str = "key_exists";
pub const KEY_NOT_FOUND: &str = "key_not_found";
pub const INVALID_KEY: &str = "invalid_key";
pub const PRIVATE_KEY_REFUSED: &str = "private_key_refused";
pub const MASQUERADE_FORBIDDEN: &str = "masquerade_forbidden";
pub const TOKEN_MALFORMED: &str = "token_malformed";
pub const TOKEN_ALGORITHM_REFUSED: &str = "token_algorithm_refused";
pub const TOKEN_UNKNOWN_KEY: &str = "token_unknown_key";
pub const TOKEN_BAD_SIGNATURE: &str = "token_bad_signature";
pub const TOKEN_EXPIRED: &str = "token_expired";
pub const TOKEN_NOT_YET_VALID: &str = "token_not_yet_valid";
pub const TOKEN_WRONG_AUDIENCE: &str = "token_wrong_audience";
pub const TOKEN_TENANT_NOT_ALLOWED: &str = "token_tenant_not_allowed";
pub const TOKEN_TENANT_REPLACED: &str = "token_tenant_replaced";
pub const ENROLLMENT_TOKEN_NOT_FOUND: &str = "enrollment_token_not_found";
pub const CLIENT_CERTIFICATE_REQUIRED: &str = "client_certificate_required";
