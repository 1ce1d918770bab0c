//! `/api/v2/components`: the tenant's hosts as boot components, with desired and actual
//! state. Tenant admins and members read; only an operator (as the tenant) changes one.

use axum::Json;
use axum::http::StatusCode;
use tenantry_proto::{Component, Page, Problem, UpdateComponent, codes};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::fleet::components;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, ComponentScope};
use crate::http::pagination::{PageParams, invalid_cursor, page};
use crate::http::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_components))
        .routes(routes!(get_component, update_component))
}

fn not_found(id: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        codes::COMPONENT_NOT_FOUND,
        format!("no component {id} in this tenant"),
    )
}

#[utoipa::path(get, path = "/api/v2/components", tag = "v2", params(PageParams,
    ("X-Tenantry-Tenant" = Option<String>, Header, description = "operators: the tenant to act as")),
    security(("bearer" = [])),
    responses((status = 200, body = Page<Component>), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list_components(
    ComponentScope(tenant): ComponentScope,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<Component>>> {
    let limit = params.limit()?;
    let after = match &params.cursor {
        Some(c) => Some(Uuid::parse_str(c).map_err(|_| invalid_cursor())?),
        None => None,
    };
    let rows = components::components(&tenant.db, tenant.slug(), after, limit + 1).await?;
    Ok(Json(page(rows, limit, |c| c.id.to_string())))
}

#[utoipa::path(get, path = "/api/v2/components/{id}", tag = "v2", params(("id" = Uuid, Path),
    ("X-Tenantry-Tenant" = Option<String>, Header, description = "operators: the tenant to act as")),
    security(("bearer" = [])),
    responses((status = 200, body = Component), (status = 404, body = Problem)))]
async fn get_component(
    ComponentScope(tenant): ComponentScope,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Component>> {
    let id = Uuid::parse_str(&id).map_err(|_| not_found(&id))?;
    components::component(&tenant.db, tenant.slug(), id)
        .await?
        .map(Json)
        .ok_or_else(|| not_found(id))
}

/// Set or clear a component's desired state (operators, as the tenant).
#[utoipa::path(patch, path = "/api/v2/components/{id}", tag = "v2", params(("id" = Uuid, Path),
    ("X-Tenantry-Tenant" = Option<String>, Header, description = "operators: the tenant to act as")),
    request_body = UpdateComponent, security(("bearer" = [])),
    responses((status = 200, body = Component), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn update_component(
    ComponentScope(tenant): ComponentScope,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateComponent>,
) -> ApiResult<Json<Component>> {
    let id = Uuid::parse_str(&id).map_err(|_| not_found(&id))?;
    if let Some(desired) = &body.desired_state
        && (desired.image.len() > 1024
            || desired.kernel_parameters.len() > 4096
            || desired.boot_set.len() > 127)
    {
        return Err(ApiError::invalid("desired_state is too large"));
    }
    if !components::set_desired(&tenant.db, id, body.desired_state.as_ref()).await? {
        return Err(not_found(id));
    }
    components::component(&tenant.db, tenant.slug(), id)
        .await?
        .map(Json)
        .ok_or_else(|| not_found(id))
}
