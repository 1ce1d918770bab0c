//! `/api/v1/agent/*`: where agents enroll (with a tenant's enrollment token) and check in
//! (with the host credential enrollment gave them). Nothing else accepts these credentials,
//! and these routes accept nothing else.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::json;
use tenantry_proto::{
    CheckinRequest, CheckinResponse, EnrollRequest, EnrollResponse, Problem, codes,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::enrollment::TOKEN_PREFIX;
use super::error::{ApiError, ApiResult};
use super::extract::{Access, ApiJson, Caller, Family};
use super::state::AppState;
use crate::auth::{HOST_CREDENTIAL_PREFIX, Principal, bearer, policy};
use crate::catalog::EnrollError;
use crate::fleet::hosts::{self, DEFAULT_CHECKIN_SECS, HostError};
use crate::fleet::sessions;
use crate::identity::token::{self, HOST_TYP, HostClaims};
use crate::limits::Budget;
use crate::provisioner::Actor;
use crate::routing::TenantRoute;
use crate::secret::api_key;
use crate::tls::TlsPeer;

/// Agents' requests are small; anything bigger is refused before it is read.
pub const MAX_AGENT_BODY: usize = 64 * 1024;
/// A host credential lives this long and is renewed at check-in in its last third.
const CREDENTIAL_TTL_SECS: u64 = 90 * 24 * 3600;
const CHECKIN_SECS: std::ops::RangeInclusive<u64> = 5..=86_400;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(enroll))
        .routes(routes!(checkin))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_AGENT_BODY))
}

fn invalid_token() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        codes::INVALID_ENROLLMENT_TOKEN,
        "invalid or expired enrollment token",
    )
}

fn host_unknown() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        codes::HOST_UNKNOWN,
        "this host is not enrolled (any more); enroll it again",
    )
}

/// An active tenant's route, or the refusal an agent gets.
fn active_route(state: &AppState, slug: &str) -> ApiResult<std::sync::Arc<TenantRoute>> {
    let snapshot = state.routing.current()?;
    let route = snapshot.tenant(slug).cloned().ok_or_else(host_unknown)?;
    // A tenant being deleted is 409 tenant_deleting: its hosts go with it, and an agent
    // stops there rather than retry.
    match route.refusal() {
        Some(refusal) => Err(refusal.into()),
        None => Ok(route),
    }
}

/// A fresh host credential: `tnth_` + a JWT signed by the server's key.
fn credential(state: &AppState, tenant: &str, tenant_id: Uuid, host_id: Uuid) -> ApiResult<String> {
    let now = token::now();
    let claims = HostClaims {
        sub: host_id.to_string(),
        tenant: tenant.to_owned(),
        typ: HOST_TYP.to_owned(),
        iat: now,
        nbf: now,
        exp: now + CREDENTIAL_TTL_SECS,
        tid: Some(tenant_id),
    };
    let jwt = token::mint(&state.signer, &claims).map_err(ApiError::internal)?;
    Ok(format!("{HOST_CREDENTIAL_PREFIX}{jwt}"))
}

/// Enroll a machine into the enrollment token's tenant. The same machine enrolling again
/// gets the same host (200) and burns no use; a new one is 201.
#[utoipa::path(post, path = "/api/v1/agent/enroll", tag = "agent", request_body = EnrollRequest,
    security(("bearer" = [])),
    responses((status = 201, body = EnrollResponse), (status = 200, body = EnrollResponse),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 409, body = Problem),
        (status = 413, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem)))]
async fn enroll(
    _tls: AgentTransport,
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<EnrollRequest>,
) -> ApiResult<(StatusCode, Json<EnrollResponse>)> {
    let secret = bearer(&headers)?;
    if !secret.starts_with(TOKEN_PREFIX) {
        return Err(invalid_token());
    }
    let catalog = &state.core.catalog;
    let token = catalog
        .usable_enrollment_token(&api_key::hash(secret))
        .await?
        .ok_or_else(invalid_token)?;
    let machine_id = body.machine_id.trim();
    let machine_ok = (8..=128).contains(&machine_id.len())
        && machine_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !machine_ok {
        return Err(ApiError::invalid(
            "machine_id must be 8 to 128 characters of letters, digits, `-` and `_`",
        ));
    }
    hosts::validate_facts(&body.facts).map_err(ApiError::invalid)?;
    let interval = body.checkin_interval_secs.unwrap_or(DEFAULT_CHECKIN_SECS);
    if !CHECKIN_SECS.contains(&interval) {
        return Err(ApiError::invalid(
            "checkin_interval_secs must be between 5 and 86400",
        ));
    }
    let record = catalog
        .tenant_by_id(token.tenant_id)
        .await?
        .ok_or_else(invalid_token)?;
    let route = active_route(&state, &record.slug)?;
    state
        .limiter
        .admit(route.id, route.slug(), &route.limits, Budget::Checkins)
        .await?;
    let binding = catalog
        .bind_host(
            &token,
            machine_id,
            // Its plan's, or its own: what routing enforces.
            route
                .limits
                .max_hosts
                .map(|m| i64::try_from(m).unwrap_or(i64::MAX)),
        )
        .await
        .map_err(|e| match e {
            EnrollError::InvalidToken => invalid_token(),
            EnrollError::HostLimit(limit) => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                codes::HOST_LIMIT_REACHED,
                format!("tenant {} may have at most {limit} hosts", record.slug),
            ),
            EnrollError::Catalog(e) => e.into(),
        })?;
    let db = state
        .pools
        .get(route.id, &route.location, &route.limits)
        .await?;
    let recorded = hosts::enroll(&db, binding.host_id, &body.facts, &token.labels, interval).await;
    if let Err(e) = recorded {
        // Nothing half-done: a new binding goes again, with its token use.
        if binding.new {
            catalog.release_binding(&token, binding.host_id).await?;
        }
        return Err(match e {
            HostError::Exists(name) => ApiError::new(
                StatusCode::CONFLICT,
                codes::HOST_EXISTS,
                format!("another host of this tenant is named {name}"),
            ),
            HostError::Data(e) => e.into(),
        });
    }
    let credential = credential(&state, &record.slug, record.id, binding.host_id)?;
    let actor = Actor {
        name: format!("enrollment:{}/{}", record.slug, token.id),
        request_id: super::request_id::current(),
    };
    state
        .audit(
            &actor,
            if binding.new {
                "host.enroll"
            } else {
                "host.reenroll"
            },
            Some((&record.slug, record.id)),
            json!({ "host_id": binding.host_id, "hostname": body.facts.hostname }),
        )
        .await?;
    let status = if binding.new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(EnrollResponse {
            host_id: binding.host_id,
            tenant: record.slug,
            credential,
            reenrolled: !binding.new,
        }),
    ))
}

/// An enrolled host checks in: it is seen now (facts refreshed), reports what it did with
/// its last desired state, and receives the next one.
#[utoipa::path(post, path = "/api/v1/agent/checkin", tag = "agent", request_body = CheckinRequest,
    security(("bearer" = [])),
    responses((status = 200, body = CheckinResponse), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 413, body = Problem), (status = 422, body = Problem)))]
async fn checkin(
    _tls: AgentTransport,
    Caller(principal, _): Caller,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CheckinRequest>,
) -> ApiResult<Json<CheckinResponse>> {
    policy::decide(Family::Agent, Access::Write, &principal)
        .map_err(|d| ApiError::new(StatusCode::FORBIDDEN, codes::FORBIDDEN, d.to_string()))?;
    let Principal::Host {
        tenant,
        host_id,
        expires,
        ..
    } = principal
    else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            codes::FORBIDDEN,
            "check-ins take a host credential",
        ));
    };
    if let Some(facts) = &body.facts {
        hosts::validate_facts(facts).map_err(ApiError::invalid)?;
    }
    // The binding, not the credential, says the host still exists (and in this tenant:
    // a re-created tenant of the same slug has another id).
    let route = active_route(&state, &tenant)?;
    // Before the registry is asked anything: a flood stops here.
    state
        .limiter
        .admit(route.id, route.slug(), &route.limits, Budget::Checkins)
        .await?;
    match state.core.catalog.host_tenant(host_id).await? {
        Some(id) if id == route.id => {}
        _ => return Err(host_unknown()),
    }
    let db = state
        .pools
        .get(route.id, &route.location, &route.limits)
        .await?;
    let interval = hosts::checkin(&db, host_id, body.facts.as_ref())
        .await?
        .ok_or_else(host_unknown)?;
    if let Some(actual) = &body.actual {
        if actual.detail.as_ref().is_some_and(|d| d.len() > 1024) {
            return Err(ApiError::invalid(
                "actual.detail is at most 1024 characters",
            ));
        }
        sessions::report(&db, host_id, actual).await?;
    }
    let desired = crate::fleet::components::desired_for(&db, host_id).await?;
    let renew = expires.saturating_sub(token::now()) < CREDENTIAL_TTL_SECS / 3;
    Ok(Json(CheckinResponse {
        host_id,
        next_checkin_secs: interval,
        credential: if renew {
            Some(credential(&state, &tenant, route.id, host_id)?)
        } else {
            None
        },
        desired,
        tenant,
    }))
}

/// With `server.tls.client_ca_file`, an agent proves itself by a client certificate signed
/// by that CA as well, before any token or credential is looked at.
pub struct AgentTransport;

impl axum::extract::FromRequestParts<AppState> for AgentTransport {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, ApiError> {
        let required = state
            .core
            .config
            .server
            .tls
            .as_ref()
            .is_some_and(|tls| tls.client_ca_file.is_some());
        let presented = parts
            .extensions
            .get::<axum::extract::ConnectInfo<TlsPeer>>()
            .is_some_and(|peer| peer.0.client_certificate);
        if !required || presented {
            return Ok(AgentTransport);
        }
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            codes::CLIENT_CERTIFICATE_REQUIRED,
            "agents must present a client certificate signed by this server's client CA \
             (server.tls.client_ca_file)",
        ))
    }
}
