//! `/api/v2/sessiontemplates`: the tenant's session templates. Another tenant's template
//! is simply not found (404), never forbidden.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use tenantry_proto::{
    NewSessionTemplate, Page, Problem, PutSessionTemplate, SessionTemplate, codes,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::fleet::session_templates::{self as templates, SessionTemplateError};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, FleetScope, TenantScope};
use crate::http::pagination::{PageParams, across_tenants, page};
use crate::http::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_templates, create_template))
        .routes(routes!(get_template, put_template, delete_template))
}

pub fn not_found(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        codes::TEMPLATE_NOT_FOUND,
        format!("no session template {name} in this tenant"),
    )
}

fn exists(e: SessionTemplateError) -> ApiError {
    match e {
        SessionTemplateError::Exists(name) => ApiError::new(
            StatusCode::CONFLICT,
            codes::TEMPLATE_EXISTS,
            format!("a session template named {name} already exists"),
        ),
        SessionTemplateError::Data(e) => e.into(),
    }
}

/// The tenant's templates by name. An operator naming no tenant lists every tenant's
/// (each item names its tenant).
#[utoipa::path(get, path = "/api/v2/sessiontemplates", tag = "v2", params(PageParams,
    ("X-Tenantry-Tenant" = Option<String>, Header, description = "operators: the tenant to act as")),
    security(("bearer" = [])),
    responses((status = 200, body = Page<SessionTemplate>), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list_templates(
    scope: FleetScope,
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<SessionTemplate>>> {
    let limit = params.limit()?;
    match scope {
        FleetScope::Tenant(tenant) => {
            let rows = templates::list(
                &tenant.db,
                tenant.slug(),
                params.cursor.as_deref(),
                limit + 1,
            )
            .await?;
            Ok(Json(page(rows, limit, |t| t.name.clone())))
        }
        FleetScope::AllTenants => Ok(Json(
            across_tenants(
                &state,
                params.cursor.as_deref(),
                limit,
                |db, slug, after, want| async move {
                    templates::list(&db, &slug, after.as_deref(), want).await
                },
                |t: &SessionTemplate| t.name.clone(),
                |t| &t.tenant,
            )
            .await?,
        )),
    }
}

#[utoipa::path(post, path = "/api/v2/sessiontemplates", tag = "v2", request_body = NewSessionTemplate,
    params(("X-Tenantry-Tenant" = Option<String>, Header, description = "operators: the tenant to act as")),
    security(("bearer" = [])),
    responses((status = 201, body = SessionTemplate), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_template(
    tenant: TenantScope,
    ApiJson(body): ApiJson<NewSessionTemplate>,
) -> ApiResult<impl IntoResponse> {
    templates::validate_name(&body.name).map_err(ApiError::invalid)?;
    templates::validate(&body.description, &body.boot_sets).map_err(ApiError::invalid)?;
    templates::put(
        &tenant.db,
        &body.name,
        &body.description,
        &body.boot_sets,
        false,
    )
    .await
    .map_err(exists)?;
    let created = templates::get(&tenant.db, tenant.slug(), &body.name)
        .await?
        .ok_or_else(|| not_found(&body.name))?;
    Ok((
        StatusCode::CREATED,
        [(
            header::LOCATION,
            format!("/api/v2/sessiontemplates/{}", body.name),
        )],
        Json(created),
    ))
}

#[utoipa::path(get, path = "/api/v2/sessiontemplates/{name}", tag = "v2", params(("name" = String, Path),
    ("X-Tenantry-Tenant" = Option<String>, Header, description = "operators: the tenant to act as")),
    security(("bearer" = [])),
    responses((status = 200, body = SessionTemplate), (status = 404, body = Problem)))]
async fn get_template(
    tenant: TenantScope,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<SessionTemplate>> {
    templates::get(&tenant.db, tenant.slug(), &name)
        .await?
        .map(Json)
        .ok_or_else(|| not_found(&name))
}

/// Create or replace a template.
#[utoipa::path(put, path = "/api/v2/sessiontemplates/{name}", tag = "v2", params(("name" = String, Path),
    ("X-Tenantry-Tenant" = Option<String>, Header, description = "operators: the tenant to act as")),
    request_body = PutSessionTemplate, security(("bearer" = [])),
    responses((status = 200, body = SessionTemplate), (status = 201, body = SessionTemplate), (status = 422, body = Problem)))]
async fn put_template(
    tenant: TenantScope,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<PutSessionTemplate>,
) -> ApiResult<(StatusCode, Json<SessionTemplate>)> {
    templates::validate_name(&name).map_err(ApiError::invalid)?;
    templates::validate(&body.description, &body.boot_sets).map_err(ApiError::invalid)?;
    let created = templates::put(&tenant.db, &name, &body.description, &body.boot_sets, true)
        .await
        .map_err(exists)?;
    let template = templates::get(&tenant.db, tenant.slug(), &name)
        .await?
        .ok_or_else(|| not_found(&name))?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(template)))
}

#[utoipa::path(delete, path = "/api/v2/sessiontemplates/{name}", tag = "v2", params(("name" = String, Path),
    ("X-Tenantry-Tenant" = Option<String>, Header, description = "operators: the tenant to act as")),
    security(("bearer" = [])),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_template(
    tenant: TenantScope,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    if templates::delete(&tenant.db, &name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(&name))
    }
}
