//! `/api/v1/keys` (the trust store) and `/api/v1/tenants/{slug}/admin-token` (operators).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use chrono::{TimeZone, Utc};
use serde::Deserialize;
use serde_json::json;
use tenantry_proto::{AddKey, AdminTokenRequest, IssuedToken, Problem, TrustedKey, codes};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiPath, ApiQuery, ControlPlane, Operator};
use super::state::AppState;
use super::tenants::writable;
use crate::catalog::CatalogError;
use crate::config::HumanDuration;
use crate::identity::token::{self, Claims, Role};
use crate::identity::{KeyError, PublicKey};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_keys, add_key))
        .routes(routes!(remove_key))
        .routes(routes!(admin_token))
}

const MAX_TTL: HumanDuration = HumanDuration::from_secs(24 * 3600);

/// The trust store.
#[utoipa::path(get, path = "/api/v1/keys", tag = "keys", security(("bearer" = [])),
    responses((status = 200, body = Vec<TrustedKey>), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list_keys(
    _op: Operator,
    State(state): State<AppState>,
) -> ApiResult<Json<Vec<TrustedKey>>> {
    let keys = state
        .core
        .catalog
        .trusted_keys()
        .await?
        .into_iter()
        .map(|k| TrustedKey {
            kid: k.kid,
            algorithm: k.algorithm,
            tenant: k.tenant,
            comment: k.comment,
            public_key: k.public_key,
            created_at: k.created_at,
        })
        .collect();
    Ok(Json(keys))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct PemParams {
    /// With a bare PEM body: restrict the key to this tenant.
    tenant: Option<String>,
    /// With a bare PEM body: a note.
    comment: Option<String>,
}

/// Trust a public key. Send JSON, or the PEM itself (`Content-Type: application/x-pem-file`
/// or `text/plain`). Answers with the key's kid.
#[utoipa::path(post, path = "/api/v1/keys", tag = "keys", request_body = AddKey, params(PemParams),
    security(("bearer" = [])),
    responses((status = 201, body = TrustedKey), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
async fn add_key(
    op: Operator,
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<PemParams>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<TrustedKey>)> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let request = if content_type.starts_with("application/json") {
        super::input::refuse_nul_in_json(&body)?;
        serde_json::from_slice::<AddKey>(&body).map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                codes::INVALID_BODY,
                e.to_string(),
            )
        })?
    } else if content_type.starts_with("text/plain")
        || content_type.starts_with("application/x-pem-file")
    {
        let pem = std::str::from_utf8(&body).map_err(|_| invalid_key("the body is not text"))?;
        AddKey {
            public_key: pem.to_owned(),
            tenant: params.tenant,
            comment: params.comment,
        }
    } else {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            codes::UNSUPPORTED_MEDIA_TYPE,
            "send JSON, or the PEM with Content-Type: application/x-pem-file",
        ));
    };
    // Never echo, log or store what was sent if it is not a public key.
    let public = PublicKey::from_pem(&request.public_key).map_err(|e| match e {
        KeyError::PrivateKeySent => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            codes::PRIVATE_KEY_REFUSED,
            e.to_string(),
        ),
        other => invalid_key(&other.to_string()),
    })?;
    let comment = request.comment.unwrap_or_default();
    if comment.chars().count() > 200 || comment.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "comment must be at most 200 characters without control characters",
        ));
    }
    let tenant = match &request.tenant {
        Some(slug) => Some(writable(&state, slug).await?),
        None => None,
    };
    match state
        .core
        .catalog
        .insert_trusted_key(
            &public.kid,
            public.alg.as_str(),
            &public.pem,
            tenant.as_ref().map(|t| t.id),
            &comment,
        )
        .await
    {
        Ok(()) => {}
        Err(CatalogError::Conflict(_)) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                codes::KEY_EXISTS,
                format!("key {} is already trusted", public.kid),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    state
        .audit(
            &op.actor,
            "key.add",
            tenant.as_ref().map(|t| (t.slug.as_str(), t.id)),
            json!({ "kid": public.kid, "algorithm": public.alg.as_str() }),
        )
        .await?;
    let tenant_slug = tenant.map(|t| t.slug);
    state.routing.publish().await?;
    Ok((
        StatusCode::CREATED,
        Json(TrustedKey {
            kid: public.kid,
            algorithm: public.alg.as_str().to_owned(),
            tenant: tenant_slug,
            comment,
            public_key: public.pem,
            created_at: Utc::now(),
        }),
    ))
}

fn invalid_key(detail: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        codes::INVALID_KEY,
        detail.to_owned(),
    )
}

/// Stop trusting a key: tokens it signed are refused from now on.
#[utoipa::path(delete, path = "/api/v1/keys/{kid}", tag = "keys", params(("kid" = String, Path)),
    security(("bearer" = [])),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn remove_key(
    op: Operator,
    State(state): State<AppState>,
    ApiPath(kid): ApiPath<String>,
) -> ApiResult<StatusCode> {
    if kid == state.signer.public.kid {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            codes::KEY_EXISTS,
            "this is the server's own signing key; it cannot be removed while the server uses it",
        ));
    }
    match state.core.catalog.delete_trusted_key(&kid).await {
        Ok(()) => {}
        Err(CatalogError::NotFound(_)) => {
            let shown: String = kid.chars().take(80).collect();
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                codes::KEY_NOT_FOUND,
                format!("no trusted key {shown}"),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    state
        .audit(&op.actor, "key.remove", None, json!({ "kid": kid }))
        .await?;
    state.routing.publish().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Mint a tenant-admin token with the server's own key — the recovery path when a tenant
/// has lost its keys. Audited.
#[utoipa::path(post, path = "/api/v1/tenants/{slug}/admin-token", tag = "keys", params(("slug" = String, Path)),
    request_body = AdminTokenRequest, security(("bearer" = [])),
    responses((status = 201, body = IssuedToken), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn admin_token(
    ControlPlane(op): ControlPlane,
    State(state): State<AppState>,
    ApiPath(slug): ApiPath<String>,
    ApiJson(body): ApiJson<AdminTokenRequest>,
) -> ApiResult<(StatusCode, Json<IssuedToken>)> {
    let tenant = writable(&state, &slug).await?;
    let ttl = match &body.ttl {
        Some(text) => HumanDuration::parse(text).map_err(ApiError::invalid)?,
        None => HumanDuration::from_secs(3600),
    };
    if ttl.as_duration().is_zero() || ttl.as_duration() > MAX_TTL.as_duration() {
        return Err(ApiError::invalid("ttl must be between 1s and 24h"));
    }
    let now = token::now();
    let claims = Claims {
        sub: format!("recovery:{}", op.actor.name),
        tenant: tenant.slug.clone(),
        role: Role::Admin,
        aud: state.core.config.auth.audience.clone(),
        iat: now,
        nbf: now,
        exp: now + ttl.as_duration().as_secs(),
        tid: Some(tenant.id),
    };
    let minted = token::mint(&state.signer, &claims).map_err(ApiError::internal)?;
    state
        .audit(
            &op.actor,
            "tenant.admin_token",
            Some((&tenant.slug, tenant.id)),
            json!({ "ttl_seconds": ttl.as_duration().as_secs() }),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(IssuedToken {
            token: minted,
            tenant: tenant.slug,
            role: Role::Admin.as_str().to_owned(),
            expires_at: Utc
                .timestamp_opt(claims.exp as i64, 0)
                .single()
                .unwrap_or_else(Utc::now),
        }),
    ))
}
