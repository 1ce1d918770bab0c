//! `/api/v1/tenants/{slug}/domains`: exact-match domains that route to a tenant.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::json;
use tenantry_proto::{CreateDomain, Domain, Page, Problem, codes};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiResult};
use super::extract::{Access, ApiJson, ApiPath, Caller, ControlPlane, Family};
use super::state::AppState;
use super::tenants::{existing, writable};
use crate::catalog::CatalogError;
use crate::names::normalize_domain;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_domains, add_domain))
        .routes(routes!(remove_domain))
}

/// A tenant's domains (operators; a tenant's own admins and members may read them).
#[utoipa::path(get, path = "/api/v1/tenants/{slug}/domains", tag = "domains", params(("slug" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = Page<Domain>), (status = 404, body = Problem)))]
async fn list_domains(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(slug): ApiPath<String>,
) -> ApiResult<Json<Page<Domain>>> {
    caller.may(Family::TenantAdminArea, Access::Read, &slug)?;
    if !state.multitenancy() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            codes::MULTITENANCY_DISABLED,
            "multi-tenancy is off (multitenancy.enabled: false); domains do not route",
        ));
    }
    let tenant = existing(&state, &slug).await?;
    let items = state
        .core
        .catalog
        .domains_of(tenant.id)
        .await?
        .into_iter()
        .map(|(domain, created_at)| Domain {
            domain,
            tenant: tenant.slug.clone(),
            created_at,
        })
        .collect();
    Ok(Json(Page {
        items,
        next_cursor: None,
    }))
}

/// Map a domain to the tenant: requests with this `Host` resolve to it.
#[utoipa::path(post, path = "/api/v1/tenants/{slug}/domains", tag = "domains", params(("slug" = String, Path)),
    request_body = CreateDomain, security(("bearer" = [])),
    responses((status = 201, body = Domain), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
async fn add_domain(
    ControlPlane(op): ControlPlane,
    State(state): State<AppState>,
    ApiPath(slug): ApiPath<String>,
    ApiJson(body): ApiJson<CreateDomain>,
) -> ApiResult<(StatusCode, Json<Domain>)> {
    let tenant = writable(&state, &slug).await?;
    let domain = normalize_domain(&body.domain).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            codes::INVALID_DOMAIN,
            e.to_string(),
        )
    })?;
    if let Some(base) = &state.core.config.routing.base_domain
        && (domain == *base || domain.ends_with(&format!(".{base}")))
    {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            codes::INVALID_DOMAIN,
            format!("names under the base domain {base} already route by their first label"),
        ));
    }
    let created_at = match state.core.catalog.add_domain(tenant.id, &domain).await {
        Ok(at) => at,
        Err(CatalogError::Conflict(_)) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                codes::DOMAIN_EXISTS,
                format!("{domain} is already mapped to a tenant"),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    state
        .audit(
            &op.actor,
            "domain.add",
            Some((&tenant.slug, tenant.id)),
            json!({ "domain": domain }),
        )
        .await?;
    state.routing.publish().await?;
    Ok((
        StatusCode::CREATED,
        Json(Domain {
            domain,
            tenant: tenant.slug,
            created_at,
        }),
    ))
}

/// Remove a domain mapping.
#[utoipa::path(delete, path = "/api/v1/tenants/{slug}/domains/{domain}", tag = "domains",
    params(("slug" = String, Path), ("domain" = String, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 404, body = Problem)))]
async fn remove_domain(
    ControlPlane(op): ControlPlane,
    State(state): State<AppState>,
    ApiPath((slug, domain)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    let tenant = writable(&state, &slug).await?;
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            codes::DOMAIN_NOT_FOUND,
            format!("tenant {} has no domain {domain}", tenant.slug),
        )
    };
    let normalized = normalize_domain(&domain).map_err(|_| not_found())?;
    match state
        .core
        .catalog
        .remove_domain(tenant.id, &normalized)
        .await
    {
        Ok(()) => {}
        Err(CatalogError::NotFound(_)) => return Err(not_found()),
        Err(e) => return Err(e.into()),
    }
    state
        .audit(
            &op.actor,
            "domain.remove",
            Some((&tenant.slug, tenant.id)),
            json!({ "domain": normalized }),
        )
        .await?;
    state.routing.publish().await?;
    Ok(StatusCode::NO_CONTENT)
}
