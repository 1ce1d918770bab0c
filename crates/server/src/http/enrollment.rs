//! `/api/v1/tenants/{slug}/enrollment-tokens`: tokens agents enroll with (operators and the
//! tenant's own admins; members read).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use serde_json::json;
use tenantry_proto::{
    CreateEnrollmentToken, EnrollmentToken, IssuedEnrollmentToken, Page, Problem, codes,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::error::{ApiError, ApiResult};
use super::extract::{Access, ApiJson, ApiPath, Caller, Family};
use super::state::AppState;
use super::tenants::{existing, writable};
use crate::catalog::{CatalogError, EnrollmentTokenRecord, NewEnrollmentToken};
use crate::config::HumanDuration;
use crate::provisioner::Actor;
use crate::secret::api_key;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
}

/// Enrollment tokens start with this, so they are recognisable in logs and configs.
pub const TOKEN_PREFIX: &str = "tnte_";
const DEFAULT_TTL: HumanDuration = HumanDuration::from_secs(24 * 3600);
const MAX_TTL: HumanDuration = HumanDuration::from_secs(365 * 24 * 3600);

fn view(tenant: &str, r: EnrollmentTokenRecord) -> EnrollmentToken {
    EnrollmentToken {
        id: r.id,
        tenant: tenant.to_owned(),
        labels: r.labels.0,
        max_uses: r.max_uses.map(|n| n.max(0) as u64),
        uses: r.uses.max(0) as u64,
        expires_at: r.expires_at,
        revoked: r.revoked_at.is_some(),
        created_at: r.created_at,
        created_by: r.created_by,
    }
}

fn actor_of(caller: &Caller) -> Actor {
    Actor {
        name: caller.0.actor(),
        request_id: super::request_id::current(),
    }
}

/// A tenant's enrollment tokens, newest first, without their secrets.
#[utoipa::path(get, path = "/api/v1/tenants/{slug}/enrollment-tokens", tag = "enrollment", params(("slug" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = Page<EnrollmentToken>), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn list_tokens(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(slug): ApiPath<String>,
) -> ApiResult<Json<Page<EnrollmentToken>>> {
    caller.may(Family::TenantAdminArea, Access::Read, &slug)?;
    let tenant = existing(&state, &slug).await?;
    let items = state
        .core
        .catalog
        .enrollment_tokens_of(tenant.id)
        .await?
        .into_iter()
        .map(|r| view(&tenant.slug, r))
        .collect();
    Ok(Json(Page {
        items,
        next_cursor: None,
    }))
}

/// Issue an enrollment token. Its secret is in this answer and nowhere else, ever.
#[utoipa::path(post, path = "/api/v1/tenants/{slug}/enrollment-tokens", tag = "enrollment", params(("slug" = String, Path)),
    request_body = CreateEnrollmentToken, security(("bearer" = [])),
    responses((status = 201, body = IssuedEnrollmentToken), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
async fn create_token(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(slug): ApiPath<String>,
    ApiJson(body): ApiJson<CreateEnrollmentToken>,
) -> ApiResult<(StatusCode, Json<IssuedEnrollmentToken>)> {
    caller.may(Family::TenantAdminArea, Access::Write, &slug)?;
    let tenant = writable(&state, &slug).await?;
    let ttl = match &body.ttl {
        Some(text) => HumanDuration::parse(text).map_err(ApiError::invalid)?,
        None => DEFAULT_TTL,
    };
    if ttl.as_duration().is_zero() || ttl.as_duration() > MAX_TTL.as_duration() {
        return Err(ApiError::invalid("ttl must be between 1s and 365d"));
    }
    let max_uses = match body.max_uses {
        Some(0) => return Err(ApiError::invalid("max_uses must be at least 1")),
        Some(n) => Some(i64::try_from(n).map_err(|_| ApiError::invalid("max_uses is too large"))?),
        None => None,
    };
    crate::fleet::labels::validate(&body.labels).map_err(ApiError::invalid)?;
    let secret = api_key::generate_with_prefix(TOKEN_PREFIX).map_err(ApiError::internal)?;
    let expires_at =
        Utc::now() + chrono::Duration::from_std(ttl.as_duration()).map_err(ApiError::internal)?;
    let actor = caller.0.actor();
    let record = state
        .core
        .catalog
        .insert_enrollment_token(&NewEnrollmentToken {
            tenant_id: tenant.id,
            token_hash: &api_key::hash(secret.expose()),
            labels: &body.labels,
            max_uses,
            expires_at,
            created_by: &actor,
        })
        .await?;
    state
        .audit(
            &actor_of(&caller),
            "enrollment_token.create",
            Some((&tenant.slug, tenant.id)),
            json!({ "id": record.id, "max_uses": max_uses, "expires_at": expires_at }),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(IssuedEnrollmentToken {
            token: secret.expose().to_owned(),
            info: view(&tenant.slug, record),
        }),
    ))
}

/// Revoke a token: no host can enroll with it from now on (enrolled hosts stay).
#[utoipa::path(delete, path = "/api/v1/tenants/{slug}/enrollment-tokens/{id}", tag = "enrollment",
    params(("slug" = String, Path), ("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = EnrollmentToken), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn revoke_token(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath((slug, id)): ApiPath<(String, String)>,
) -> ApiResult<Json<EnrollmentToken>> {
    caller.may(Family::TenantAdminArea, Access::Write, &slug)?;
    let tenant = writable(&state, &slug).await?;
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            codes::ENROLLMENT_TOKEN_NOT_FOUND,
            "no such enrollment token in this tenant",
        )
    };
    let id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let record = match state
        .core
        .catalog
        .revoke_enrollment_token(tenant.id, id)
        .await
    {
        Ok(record) => record,
        Err(CatalogError::NotFound(_)) => return Err(not_found()),
        Err(e) => return Err(e.into()),
    };
    state
        .audit(
            &actor_of(&caller),
            "enrollment_token.revoke",
            Some((&tenant.slug, tenant.id)),
            json!({ "id": id }),
        )
        .await?;
    Ok(Json(view(&tenant.slug, record)))
}
