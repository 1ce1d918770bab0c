//! `/api/v1/hosts`: hosts of the resolved tenant, read from and written to its own database.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use tenantry_proto::{CreateHost, Host, Page, Problem, codes};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiPath, ApiQuery, FleetScope, TenantScope};
use super::pagination::{PageParams, invalid_cursor, page};
use super::state::AppState;
use crate::fleet::hosts::{self, HostError};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_hosts, create_host))
        .routes(routes!(get_host, delete_host))
}

fn invalid(detail: impl Into<String>) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        codes::VALIDATION_FAILED,
        detail,
    )
}

fn validate(new: &CreateHost) -> ApiResult<()> {
    hosts::validate_hostname(&new.hostname).map_err(invalid)?;
    if let Some(os) = &new.os {
        hosts::validate_text("os", os).map_err(invalid)?;
    }
    crate::fleet::labels::validate(&new.labels).map_err(invalid)?;
    Ok(())
}

fn host_not_found(id: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        codes::HOST_NOT_FOUND,
        format!("no host {id} in this tenant"),
    )
}

/// The tenant's hosts, oldest first. An operator naming no tenant sees every tenant's
/// hosts, by tenant slug then age; each item names its tenant.
#[utoipa::path(get, path = "/api/v1/hosts", tag = "hosts", params(PageParams,
    ("X-Tenantry-Tenant" = Option<String>, Header, description = "operators: the tenant to act as")),
    security(("bearer" = [])),
    responses((status = 200, body = Page<Host>), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn list_hosts(
    scope: FleetScope,
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<Host>>> {
    let limit = params.limit()?;
    let tenant = match scope {
        FleetScope::Tenant(tenant) => tenant,
        FleetScope::AllTenants => {
            return list_all_tenants(&state, params.cursor.as_deref(), limit)
                .await
                .map(Json);
        }
    };
    let after = match &params.cursor {
        Some(c) => Some(Uuid::parse_str(c).map_err(|_| invalid_cursor())?),
        None => None,
    };
    let rows = hosts::list(&tenant.db, tenant.slug(), after, limit + 1)
        .await
        .map_err(|e| tenant.fail(e))?;
    Ok(Json(page(rows, limit, |h| h.id.to_string())))
}

/// Walks active tenants in slug order; the cursor is `<slug>/<host id>`.
async fn list_all_tenants(
    state: &AppState,
    cursor: Option<&str>,
    limit: u32,
) -> ApiResult<Page<Host>> {
    let (from_slug, after) = match cursor {
        Some(c) => {
            let (slug, id) = c.split_once('/').ok_or_else(invalid_cursor)?;
            (
                Some(slug.to_owned()),
                Some(Uuid::parse_str(id).map_err(|_| invalid_cursor())?),
            )
        }
        None => (None, None),
    };
    let snapshot = state.routing.snapshot();
    let mut routes: Vec<_> = snapshot
        .tenants()
        .filter(|r| r.status == tenantry_proto::TenantStatus::Active)
        .filter(|r| from_slug.as_deref().is_none_or(|s| r.slug().as_str() >= s))
        .cloned()
        .collect();
    routes.sort_by(|a, b| a.slug().cmp(b.slug()));
    let mut rows = Vec::new();
    for route in routes {
        let want = limit as usize + 1 - rows.len();
        let db = state.pools.get(&route).await?;
        let slug = route.slug().as_str();
        let after_here = if from_slug.as_deref() == Some(slug) {
            after
        } else {
            None
        };
        rows.extend(hosts::list(&db, slug, after_here, want as u32).await?);
        if rows.len() > limit as usize {
            break;
        }
    }
    Ok(page(rows, limit, |h| format!("{}/{}", h.tenant, h.id)))
}

/// Register a host in the tenant.
#[utoipa::path(post, path = "/api/v1/hosts", tag = "hosts", request_body = CreateHost,
    params(("X-Tenantry-Tenant" = Option<String>, Header, description = "operators: the tenant to act as")),
    security(("bearer" = [])),
    responses((status = 201, body = Host), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_host(
    tenant: TenantScope,
    ApiJson(body): ApiJson<CreateHost>,
) -> ApiResult<impl IntoResponse> {
    validate(&body)?;
    let host = hosts::create(&tenant.db, tenant.slug(), &body)
        .await
        .map_err(|e| match e {
            HostError::Exists(name) => ApiError::new(
                StatusCode::CONFLICT,
                codes::HOST_EXISTS,
                format!("a host named {name} already exists"),
            ),
            HostError::Db(e) => tenant.fail(e),
        })?;
    let location = format!("/api/v1/hosts/{}", host.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(host),
    ))
}

/// One host of the tenant.
#[utoipa::path(get, path = "/api/v1/hosts/{id}", tag = "hosts", params(("id" = Uuid, Path),
    ("X-Tenantry-Tenant" = Option<String>, Header, description = "operators: the tenant to act as")),
    security(("bearer" = [])),
    responses((status = 200, body = Host), (status = 404, body = Problem)))]
async fn get_host(tenant: TenantScope, ApiPath(id): ApiPath<String>) -> ApiResult<Json<Host>> {
    let id = Uuid::parse_str(&id).map_err(|_| host_not_found(&id))?;
    hosts::get(&tenant.db, tenant.slug(), id)
        .await
        .map_err(|e| tenant.fail(e))?
        .map(Json)
        .ok_or_else(|| host_not_found(id))
}

/// Remove a host from the tenant.
#[utoipa::path(delete, path = "/api/v1/hosts/{id}", tag = "hosts", params(("id" = Uuid, Path),
    ("X-Tenantry-Tenant" = Option<String>, Header, description = "operators: the tenant to act as")),
    security(("bearer" = [])),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_host(
    tenant: TenantScope,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let id = Uuid::parse_str(&id).map_err(|_| host_not_found(&id))?;
    let deleted = hosts::delete(&tenant.db, id)
        .await
        .map_err(|e| tenant.fail(e))?;
    // Its credential stops working with the binding (401 `host_unknown` at check-in).
    let unbound = state.core.catalog.unbind_host(tenant.route.id, id).await?;
    if deleted || unbound {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(host_not_found(id))
    }
}
