//! Extractors: bodies, queries and paths whose rejections are problem documents, and the
//! two gates every protected handler starts with — [`Operator`] for the control plane and
//! [`TenantScope`] for tenant data.

use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::StatusCode;
use axum::http::header::HOST;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::json;
use tenantry_proto::{TenantStatus, codes};

use super::error::ApiError;
use super::input;
use super::request_id::RequestId;
use super::state::AppState;
use std::sync::Arc;

use crate::auth::policy::{self, Denied};
pub use crate::auth::policy::{Access, Family};
use crate::auth::{Principal, authenticate};
use crate::catalog::NewAuditEvent;
use crate::limits::Budget;
use crate::provisioner::Actor;
use crate::routing::{ResolveError, RoutingSnapshot, TenantRoute, resolve};
use crate::store::TenantDb;

/// The header an operator sends to act as one tenant.
pub const MASQUERADE_HEADER: &str = "x-tenantry-tenant";

/// A JSON body; malformed bodies are `invalid_body` problems.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                codes::UNSUPPORTED_MEDIA_TYPE,
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        let bytes = match Bytes::from_request(req, state).await {
            Ok(bytes) => bytes,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    codes::PAYLOAD_TOO_LARGE,
                    "the request body is too large",
                ));
            }
            Err(e) => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    codes::INVALID_BODY,
                    e.body_text(),
                ));
            }
        };
        input::refuse_nul_in_json(&bytes)?;
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                codes::INVALID_BODY,
                e.body_text(),
            )),
            Err(e) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                codes::INVALID_BODY,
                e.body_text(),
            )),
        }
    }
}

/// `application/json`, or any `application/…+json`, with or without parameters.
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|sub| sub.ends_with("+json"))
}

/// Query parameters; bad ones are `invalid_query` problems.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| ApiQuery(q))
            .map_err(|e: QueryRejection| ApiError::bad_query(e.body_text()))
    }
}

/// Path parameters; unparsable ones are 404s of the route's kind.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(p)| ApiPath(p))
            .map_err(|e: PathRejection| {
                ApiError::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, e.body_text())
            })
    }
}

fn request_id(parts: &Parts) -> Option<String> {
    parts.extensions.get::<RequestId>().map(|r| r.0.clone())
}

fn forbidden(denied: Denied) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, codes::FORBIDDEN, denied.to_string())
}

/// The one value of a header that names a tenant, if sent. Two values, or one that is not
/// visible ASCII, would make resolution pick one: refused instead (400).
fn single_header<'p>(parts: &'p Parts, name: &str) -> Result<Option<&'p str>, ApiError> {
    let value = crate::auth::one_value(&parts.headers, name).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            codes::AMBIGUOUS_HEADER,
            format!("send one {name} header, not several"),
        )
    })?;
    let Some(value) = value else {
        return Ok(None);
    };
    value.to_str().map(Some).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            codes::INVALID_HEADER,
            format!("the {name} header is not readable text"),
        )
    })
}

/// The caller, authenticated against the current routing snapshot.
fn principal(
    parts: &Parts,
    state: &AppState,
) -> Result<(Arc<RoutingSnapshot>, Principal), ApiError> {
    let snapshot = state.routing.current()?;
    let audience = state.core.config.auth.audience.as_deref();
    let principal = authenticate(
        &parts.headers,
        &snapshot,
        &state.tokens,
        audience,
        &state.signer.public.kid,
    )?;
    Ok((snapshot, principal))
}

/// An authenticated operator; anyone else is refused.
pub struct Operator {
    pub actor: Actor,
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let (_, principal) = principal(parts, state)?;
        policy::decide(Family::ControlPlane, Access::of(&parts.method), &principal)
            .map_err(forbidden)?;
        Ok(Operator {
            actor: Actor {
                name: principal.actor(),
                request_id: request_id(parts),
            },
        })
    }
}

/// Any authenticated caller; the handler applies the policy for its family.
pub struct Caller(pub Principal, pub(in crate::http) Arc<RoutingSnapshot>);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let (snapshot, principal) = principal(parts, state)?;
        Ok(Caller(principal, snapshot))
    }
}

impl Caller {
    /// Allows the request if the policy lets this caller `access` a route of `family` about
    /// tenant `slug`. A tenant principal asking about another tenant learns nothing, not
    /// even that it exists.
    ///
    /// A tenant principal reaches its tenant only while it is active, like on every
    /// tenant-scoped route; an operator manages a suspended tenant, but writes nothing for
    /// one being deleted.
    pub fn may(&self, family: Family, access: Access, slug: &str) -> Result<(), ApiError> {
        policy::decide(family, access, &self.0).map_err(forbidden)?;
        if let Some(own) = self.0.tenant()
            && own != slug
        {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                codes::TENANT_NOT_FOUND,
                format!("no tenant `{slug}`"),
            ));
        }
        let Some(route) = self.1.tenant(slug) else {
            // Unknown tenants are the handler's to report.
            return Ok(());
        };
        let operator_may = self.0.is_operator()
            && (route.status == TenantStatus::Suspended || access == Access::Read);
        match route.refusal() {
            Some(refusal) if !operator_may => Err(refusal.into()),
            _ => Ok(()),
        }
    }
}

/// An operator on the tenant control plane, which exists only with multi-tenancy on.
pub struct ControlPlane(pub Operator);

impl FromRequestParts<AppState> for ControlPlane {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let operator = Operator::from_request_parts(parts, state).await?;
        if !state.multitenancy() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                codes::MULTITENANCY_DISABLED,
                "multi-tenancy is off (multitenancy.enabled: false); the only tenant is the built-in `default`",
            ));
        }
        Ok(ControlPlane(operator))
    }
}

/// A request resolved to exactly one active tenant, with that tenant's database.
pub struct TenantScope {
    pub route: Arc<TenantRoute>,
    pub db: TenantDb,
}

impl TenantScope {
    pub fn slug(&self) -> &str {
        self.route.slug().as_str()
    }
}

impl FromRequestParts<AppState> for TenantScope {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        one_tenant(parts, state, Family::FleetData).await
    }
}

/// A tenant's components: tenant principals read, only operators (as the tenant) change.
pub struct ComponentScope(pub TenantScope);

impl FromRequestParts<AppState> for ComponentScope {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        one_tenant(parts, state, Family::Components)
            .await
            .map(ComponentScope)
    }
}

/// Exactly one tenant, for a route of `family`.
async fn one_tenant(
    parts: &Parts,
    state: &AppState,
    family: Family,
) -> Result<TenantScope, ApiError> {
    match scope(parts, state, family, false).await? {
        FleetScope::Tenant(scope) => Ok(scope),
        // `scope` only answers AllTenants when asked to.
        FleetScope::AllTenants => Err(ApiError::from(ResolveError::TenantRequired)),
    }
}

/// Fleet data seen either through one tenant, or — for an operator reading without
/// naming a tenant — across all of them.
pub enum FleetScope {
    Tenant(TenantScope),
    AllTenants,
}

impl FromRequestParts<AppState> for FleetScope {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        scope(parts, state, Family::FleetData, true).await
    }
}

/// A request resolved to exactly one active tenant, without its database: for routes that
/// keep nothing there (media), so a long upload holds none of the tenant's connections.
pub struct MediaScope {
    pub route: Arc<TenantRoute>,
}

impl FromRequestParts<AppState> for MediaScope {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match resolve_scope(parts, state, Family::FleetData, false).await? {
            Some(route) => Ok(MediaScope { route }),
            None => Err(ApiError::from(ResolveError::TenantRequired)),
        }
    }
}

/// [`resolve_scope`], then the tenant's database.
async fn scope(
    parts: &Parts,
    state: &AppState,
    family: Family,
    all_for_operator_reads: bool,
) -> Result<FleetScope, ApiError> {
    let Some(route) = resolve_scope(parts, state, family, all_for_operator_reads).await? else {
        return Ok(FleetScope::AllTenants);
    };
    let db = state
        .pools
        .get(route.id, &route.location, &route.limits)
        .await?;
    Ok(FleetScope::Tenant(TenantScope { route, db }))
}

/// Authenticates, resolves exactly one tenant (or, when `all_for_operator_reads`, lets an
/// operator's read with no tenant named see every tenant: no route), applies the policy, the
/// tenant's rate and storage quota, and audits masquerades.
async fn resolve_scope(
    parts: &Parts,
    state: &AppState,
    family: Family,
    all_for_operator_reads: bool,
) -> Result<Option<Arc<TenantRoute>>, ApiError> {
    let (snapshot, principal) = principal(parts, state)?;
    let access = Access::of(&parts.method);
    let host = single_header(parts, HOST.as_str())?;
    let masquerade = single_header(parts, MASQUERADE_HEADER)?;
    let config = &state.core.config;
    let resolved = resolve(
        &snapshot,
        &principal,
        host,
        masquerade,
        &config.routing,
        state.multitenancy(),
    );
    let resolution = match resolved {
        Ok(resolution) => resolution,
        Err(ResolveError::TenantRequired)
            if all_for_operator_reads && principal.is_operator() && access == Access::Read =>
        {
            return Ok(None);
        }
        Err(e) if e.is_refusal_of_a_known_tenant() => {
            tracing::warn!(
                request_id = request_id(parts).unwrap_or_default(),
                path = parts.uri.path(),
                principal = principal.actor(),
                reason = %e,
                "refused a tenant-scoped request"
            );
            return Err(e.into());
        }
        Err(e) => {
            // Loud, never a guess: operators must see every request that found no tenant.
            tracing::error!(
                request_id = request_id(parts).unwrap_or_default(),
                host = host.unwrap_or(""),
                path = parts.uri.path(),
                principal = principal.actor(),
                masquerade = masquerade.unwrap_or(""),
                reason = %e,
                "refused a tenant-scoped request: no tenant resolved"
            );
            return Err(e.into());
        }
    };
    policy::decide(family, access, &principal).map_err(forbidden)?;
    // Operators are not counted: support work must get through a tenant's own flood.
    if !principal.is_operator() {
        let route = &resolution.route;
        state
            .limiter
            .admit(route.id, route.slug(), &route.limits, Budget::Requests)
            .await?;
    }
    // Over its storage quota, a tenant's writes are refused; its reads are not.
    if access == Access::Write {
        let route = &resolution.route;
        state
            .quotas
            .check(route.id, &route.location, route.limits.storage_bytes)
            .await?;
    }
    if resolution.masquerade {
        state
            .core
            .catalog
            .audit(NewAuditEvent {
                actor: &principal.actor(),
                action: "tenant.masquerade",
                tenant_slug: Some(resolution.route.slug().as_str()),
                tenant_id: Some(resolution.route.id),
                request_id: request_id(parts).as_deref(),
                detail: json!({ "method": parts.method.as_str(), "path": parts.uri.path() }),
            })
            .await?;
    }
    Ok(Some(resolution.route))
}
