//! Errors as RFC 9457 problem documents with a stable `code`.
//!
//! Internal failures are logged in full and answered with a generic detail: no SQL, no
//! file path, no driver message ever reaches a response body.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tenantry_proto::{Problem, codes};

use super::request_id;
use crate::auth::AuthError;
use crate::catalog::CatalogError;
use crate::media::MediaError;
use crate::names::SlugError;
use crate::pools::PoolError;
use crate::provisioner::ProvisionError;
use crate::routing::ResolveError;
use crate::store::TenantDataError;
use crate::store::credentials::CredentialError;
use crate::store::tenants::StoreError;
use crate::store::{is_disk_full, is_foreign_key_violation, is_unreachable};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    /// Headers the answer carries besides the problem (e.g. `RateLimit-*`).
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            detail: detail.into(),
            headers: Vec::new(),
        }
    }

    /// 422 `validation_failed`: a field's value breaks its rule (the detail states it).
    pub fn invalid(detail: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            codes::VALIDATION_FAILED,
            detail,
        )
    }

    /// 400 `invalid_query`: a query parameter is not one the route takes.
    pub fn bad_query(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, codes::INVALID_QUERY, detail)
    }

    /// Logs the real cause and answers 500 without it.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            codes::INTERNAL,
            "the server failed to handle this request; the request id is in the server log",
        )
    }

    /// 507: the database or file system is full. Nothing was written.
    pub fn insufficient_storage(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "storage full");
        ApiError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            codes::INSUFFICIENT_STORAGE,
            "the server's storage is full; nothing was written",
        )
    }

    /// 503 `storage_busy`: the tenant's pool, or its share of one, has no room now.
    pub fn storage_busy() -> Self {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            codes::STORAGE_BUSY,
            "every connection to this tenant's storage is busy; try again",
        )
    }

    pub fn unavailable(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "dependency unavailable");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            codes::SERVICE_UNAVAILABLE,
            "a database needed for this request is unavailable; try again",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = Problem {
            kind: format!("urn:tenantry:problem:{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail,
            code: self.code.to_owned(),
            request_id: request_id::current().unwrap_or_default(),
        };
        let mut response = (self.status, Json(problem)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            // Every 503 is worth retrying, after a pause.
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

/// 429 `rate_limited`, with `Retry-After` and the `RateLimit-*` fields (IETF draft
/// "RateLimit header fields for HTTP"): the policy, nothing left, and when it is full.
impl From<crate::limits::Refusal> for ApiError {
    fn from(r: crate::limits::Refusal) -> Self {
        let whole_seconds = |d: std::time::Duration| d.as_millis().div_ceil(1000).max(1);
        let retry_after = whole_seconds(r.retry_after);
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            codes::RATE_LIMITED,
            format!(
                "the tenant's rate of {} a second (bursts of {}) is used up; retry in {retry_after} s",
                r.rate.per_second, r.rate.burst
            ),
        );
        let fields = [
            (header::RETRY_AFTER.as_str(), retry_after.to_string()),
            ("ratelimit-limit", r.rate.burst.to_string()),
            ("ratelimit-remaining", "0".to_owned()),
            ("ratelimit-reset", whole_seconds(r.reset).to_string()),
            (
                "ratelimit-policy",
                format!("{};w=1;burst={}", r.rate.per_second, r.rate.burst),
            ),
        ];
        for (name, value) in fields {
            if let (Ok(name), Ok(value)) = (
                header::HeaderName::try_from(name),
                HeaderValue::try_from(value),
            ) {
                e.headers.push((name, value));
            }
        }
        e
    }
}

impl From<crate::limits::OverQuota> for ApiError {
    fn from(q: crate::limits::OverQuota) -> Self {
        ApiError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            codes::STORAGE_QUOTA_EXCEEDED,
            format!(
                "the tenant's storage ({} bytes) is at its quota of {} bytes; nothing was written (reads still work)",
                q.used, q.limit
            ),
        )
    }
}

impl From<crate::routing::Stale> for ApiError {
    fn from(e: crate::routing::Stale) -> Self {
        tracing::warn!(error = %e, "refused: routing may be out of date");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            codes::ROUTING_STALE,
            "this server cannot confirm that its view of tenants and keys is current; try again",
        )
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match &e {
            AuthError::Missing => {
                ApiError::new(StatusCode::UNAUTHORIZED, codes::UNAUTHORIZED, e.to_string())
            }
            AuthError::Ambiguous => ApiError::new(
                StatusCode::BAD_REQUEST,
                codes::AMBIGUOUS_HEADER,
                e.to_string(),
            ),
            AuthError::Malformed | AuthError::InvalidApiKey => ApiError::new(
                StatusCode::UNAUTHORIZED,
                codes::INVALID_CREDENTIALS,
                e.to_string(),
            ),
            AuthError::Token(t) if t.is_forbidden() => {
                ApiError::new(StatusCode::FORBIDDEN, t.code(), e.to_string())
            }
            AuthError::Token(t) => ApiError::new(StatusCode::UNAUTHORIZED, t.code(), e.to_string()),
        }
    }
}

impl From<SlugError> for ApiError {
    fn from(e: SlugError) -> Self {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            codes::INVALID_SLUG,
            e.to_string(),
        )
    }
}

impl From<ResolveError> for ApiError {
    fn from(e: ResolveError) -> Self {
        let (status, code) = match &e {
            ResolveError::TenantRequired => (StatusCode::BAD_REQUEST, codes::TENANT_REQUIRED),
            ResolveError::NotFound { .. } => (StatusCode::NOT_FOUND, codes::TENANT_NOT_FOUND),
            ResolveError::Mismatch { .. } | ResolveError::ForeignEndpoint { .. } => {
                (StatusCode::FORBIDDEN, codes::TENANT_MISMATCH)
            }
            ResolveError::MasqueradeForbidden => {
                (StatusCode::FORBIDDEN, codes::MASQUERADE_FORBIDDEN)
            }
            ResolveError::Suspended(_) => (StatusCode::FORBIDDEN, codes::TENANT_SUSPENDED),
            ResolveError::Deleting(_) => (StatusCode::CONFLICT, codes::TENANT_DELETING),
            ResolveError::NotReady(_) => (StatusCode::SERVICE_UNAVAILABLE, codes::TENANT_NOT_READY),
        };
        ApiError::new(status, code, e.to_string())
    }
}

impl From<ProvisionError> for ApiError {
    fn from(e: ProvisionError) -> Self {
        let (status, code) = match &e {
            ProvisionError::Exists(_) => (StatusCode::CONFLICT, codes::TENANT_EXISTS),
            ProvisionError::Deleting(_) => (StatusCode::CONFLICT, codes::TENANT_DELETING),
            ProvisionError::NotFound(_) => (StatusCode::NOT_FOUND, codes::TENANT_NOT_FOUND),
            ProvisionError::Protected(_) => (StatusCode::CONFLICT, codes::TENANT_PROTECTED),
            ProvisionError::Busy(_) => (StatusCode::CONFLICT, codes::TENANT_BUSY),
            ProvisionError::InvalidTransition { .. } => {
                (StatusCode::CONFLICT, codes::INVALID_STATUS_TRANSITION)
            }
            ProvisionError::NoInstance(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, codes::NO_INSTANCE_MATCHES)
            }
            ProvisionError::IsolationUnsupported(..) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                codes::ISOLATION_UNSUPPORTED,
            ),
            ProvisionError::Store(store) => return store_error(store),
            ProvisionError::Catalog(_) | ProvisionError::Media(_) => {
                return match e {
                    ProvisionError::Catalog(c) => c.into(),
                    ProvisionError::Media(m) => m.into(),
                    other => ApiError::internal(other),
                };
            }
            ProvisionError::PurgeUnverified { .. } | ProvisionError::Migrate(_) => {
                return ApiError::internal(e);
            }
            // The tenant stays `deleting`; reconcile finishes once Redis answers.
            ProvisionError::Cache(cause) => {
                tracing::error!(error = %cause, "Redis unavailable during a purge");
                return ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    codes::SERVICE_UNAVAILABLE,
                    "Redis is unavailable; the tenant is refused already, and its deletion finishes once Redis answers",
                );
            }
        };
        ApiError::new(status, code, e.to_string())
    }
}

/// The media store: its outage is the operator's to fix and says so; nothing was changed.
impl From<MediaError> for ApiError {
    fn from(e: MediaError) -> Self {
        match e {
            MediaError::UploadsBusy(_) => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                codes::UPLOADS_BUSY,
                format!("{e}; wait for one to finish"),
            ),
            MediaError::Store(cause) => {
                tracing::error!(error = %cause, "media store unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    codes::MEDIA_UNAVAILABLE,
                    "the media store is unavailable; nothing was changed, try again later",
                )
            }
            MediaError::Config(_) => ApiError::internal(e),
        }
    }
}

/// Storage failures: an unreachable instance is named (it is the operator's to fix); the
/// rest stay in the log.
pub fn store_error(e: &StoreError) -> ApiError {
    match e {
        StoreError::InstanceUnavailable { instance, source } => {
            tracing::error!(%instance, error = %source, "instance unavailable");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                codes::INSTANCE_UNAVAILABLE,
                format!("database instance `{instance}` is unavailable; try again later"),
            )
        }
        StoreError::Credentials(CredentialError::Unavailable(why)) => {
            tracing::error!(error = %why, "credential broker unavailable");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                codes::CREDENTIAL_BROKER_UNAVAILABLE,
                "the credential broker (OpenBAO) is unavailable; try again later",
            )
        }
        StoreError::UnknownInstance(name) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            codes::NO_INSTANCE_MATCHES,
            format!("instance `{name}` is not configured"),
        ),
        StoreError::Db(db) if is_disk_full(db) => ApiError::insufficient_storage(e),
        StoreError::Io(io) if io.kind() == std::io::ErrorKind::StorageFull => {
            ApiError::insufficient_storage(e)
        }
        other => ApiError::internal(other),
    }
}

/// The one place a failure on a tenant's storage becomes a response.
impl From<TenantDataError> for ApiError {
    fn from(e: TenantDataError) -> Self {
        match e {
            TenantDataError::Busy { tenant } => {
                tracing::warn!(
                    tenant = tenant.as_deref().unwrap_or("?"),
                    "every connection of the tenant's pool is busy"
                );
                ApiError::storage_busy()
            }
            TenantDataError::Unavailable {
                instance: Some(instance),
                source,
            } => store_error(&StoreError::InstanceUnavailable { instance, source }),
            TenantDataError::Unavailable {
                instance: None,
                source,
            } => {
                tracing::error!(error = %source, "tenant's instance unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    codes::INSTANCE_UNAVAILABLE,
                    "the tenant's database instance is unavailable; try again later",
                )
            }
            TenantDataError::LoginRefused { tenant, source } => {
                // Renewal happens off the request path: the source has been unreachable
                // for longer than the lease.
                let why = format!(
                    "tenant {}: the database refused its leased login: {source}",
                    tenant.as_deref().unwrap_or("?")
                );
                store_error(&StoreError::Credentials(CredentialError::Unavailable(
                    why.into(),
                )))
            }
            TenantDataError::Full(e) => ApiError::insufficient_storage(e),
            TenantDataError::TimedOut(e) => {
                tracing::warn!(error = %e, "a tenant statement ran past its statement timeout");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    codes::STATEMENT_TIMEOUT,
                    "the request's database work ran past this tenant's statement timeout and was cancelled",
                )
            }
            TenantDataError::Db(e) => ApiError::from(e),
        }
    }
}

impl From<PoolError> for ApiError {
    fn from(e: PoolError) -> Self {
        match e {
            PoolError::Retired => ApiError::new(
                StatusCode::CONFLICT,
                codes::TENANT_DELETING,
                "the tenant is being deleted",
            ),
            PoolError::Store(store) => store_error(&store),
            PoolError::ShareFull(tenant) => {
                tracing::warn!(%tenant, "every connection of the tenant's share is in use");
                ApiError::storage_busy()
            }
            PoolError::BudgetExhausted(_) => {
                tracing::warn!(error = %e, "tenant connection budget exhausted");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    codes::CONNECTION_BUDGET_EXHAUSTED,
                    "the server is at its database connection limit; try again",
                )
            }
        }
    }
}

impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> Self {
        match &e {
            // Every registry foreign key names a tenant: its row went while we wrote.
            CatalogError::Db(db) if is_foreign_key_violation(db) => ApiError::new(
                StatusCode::CONFLICT,
                codes::TENANT_DELETING,
                "the tenant is being deleted",
            ),
            CatalogError::Db(db) if is_unreachable(db) => ApiError::unavailable(e),
            CatalogError::Db(db) if is_disk_full(db) => ApiError::insufficient_storage(e),
            _ => ApiError::internal(e),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        if is_disk_full(&e) {
            return ApiError::insufficient_storage(e);
        }
        if is_unreachable(&e) || matches!(e, sqlx::Error::PoolClosed) {
            return ApiError::unavailable(e);
        }
        ApiError::internal(e)
    }
}

impl From<std::io::Error> for ApiError {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::StorageFull {
            return ApiError::insufficient_storage(e);
        }
        ApiError::internal(e)
    }
}
