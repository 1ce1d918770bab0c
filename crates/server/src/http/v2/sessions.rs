//! `/api/v2/sessions`: boot, reboot or shut down a template's nodes among the tenant's own
//! hosts. A session may only name its own tenant's templates (another tenant's: 404).

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use tenantry_proto::{CreateSession, Page, Problem, Session, SessionStatus, codes};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::session_templates as templates;
use crate::fleet::session_templates as stored_templates;
use crate::fleet::sessions::{self, NewSession};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, FleetScope, TenantScope};
use crate::http::pagination::{across_tenants, check_limit, invalid_cursor, page};
use crate::http::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_sessions, create_session))
        .routes(routes!(get_session, delete_session))
}

fn not_found(id: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        codes::SESSION_NOT_FOUND,
        format!("no session {id} in this tenant"),
    )
}

/// `GET /api/v2/sessions` parameters.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SessionQuery {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    /// Only sessions with this status.
    pub status: Option<SessionStatus>,
}

/// The tenant's sessions, oldest first. An operator naming no tenant lists every tenant's.
#[utoipa::path(get, path = "/api/v2/sessions", tag = "v2", params(SessionQuery,
    ("X-Tenantry-Tenant" = Option<String>, Header, description = "operators: the tenant to act as")),
    security(("bearer" = [])),
    responses((status = 200, body = Page<Session>), (status = 400, body = Problem), (status = 401, body = Problem)))]
async fn list_sessions(
    scope: FleetScope,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<SessionQuery>,
) -> ApiResult<Json<Page<Session>>> {
    let limit = check_limit(query.limit)?;
    let status = query.status;
    match scope {
        FleetScope::Tenant(tenant) => {
            let after = match &query.cursor {
                Some(c) => Some(Uuid::parse_str(c).map_err(|_| invalid_cursor())?),
                None => None,
            };
            let rows = sessions::list(&tenant.db, tenant.slug(), status, after, limit + 1).await?;
            Ok(Json(page(rows, limit, |s| s.id.to_string())))
        }
        FleetScope::AllTenants => {
            if let Some(c) = &query.cursor {
                let id = c.split_once('/').map(|(_, id)| id).unwrap_or_default();
                Uuid::parse_str(id).map_err(|_| invalid_cursor())?;
            }
            Ok(Json(
                across_tenants(
                    &state,
                    query.cursor.as_deref(),
                    limit,
                    |db, slug, after, want| async move {
                        let after = after.and_then(|a| Uuid::parse_str(&a).ok());
                        sessions::list(&db, &slug, status, after, want).await
                    },
                    |s: &Session| s.id.to_string(),
                    |s| &s.tenant,
                )
                .await?,
            ))
        }
    }
}

/// Start a session: its targets' desired state is set now, and agents pick it up at
/// their next check-in.
#[utoipa::path(post, path = "/api/v2/sessions", tag = "v2", request_body = CreateSession,
    params(("X-Tenantry-Tenant" = Option<String>, Header, description = "operators: the tenant to act as")),
    security(("bearer" = [])),
    responses((status = 201, body = Session), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn create_session(
    tenant: TenantScope,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateSession>,
) -> ApiResult<impl IntoResponse> {
    if let Some(limit) = &body.limit
        && (limit.len() > 4096 || limit.chars().any(char::is_control))
    {
        return Err(ApiError::invalid(
            "limit is at most 4096 characters of hostnames and key=value labels, comma-separated",
        ));
    }
    let template = stored_templates::get(&tenant.db, tenant.slug(), &body.template_name)
        .await?
        .ok_or_else(|| templates::not_found(&body.template_name))?;
    let options = crate::options::get(&state.core.shared).await?;
    let timeout = chrono::Duration::seconds(
        i64::try_from(options.default_session_timeout_secs).unwrap_or(3600),
    );
    let session = sessions::create(
        &tenant.db,
        tenant.slug(),
        &NewSession {
            template_name: &template.name,
            boot_sets: &template.boot_sets,
            operation: body.operation,
            limit: body.limit.as_deref(),
            stage: body.stage,
            timeout,
        },
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/v2/sessions/{}", session.id))],
        Json(session),
    ))
}

#[utoipa::path(get, path = "/api/v2/sessions/{id}", tag = "v2", params(("id" = Uuid, Path),
    ("X-Tenantry-Tenant" = Option<String>, Header, description = "operators: the tenant to act as")),
    security(("bearer" = [])),
    responses((status = 200, body = Session), (status = 404, body = Problem)))]
async fn get_session(
    tenant: TenantScope,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Session>> {
    let id = Uuid::parse_str(&id).map_err(|_| not_found(&id))?;
    sessions::get(&tenant.db, tenant.slug(), id)
        .await?
        .map(Json)
        .ok_or_else(|| not_found(id))
}

#[utoipa::path(delete, path = "/api/v2/sessions/{id}", tag = "v2", params(("id" = Uuid, Path),
    ("X-Tenantry-Tenant" = Option<String>, Header, description = "operators: the tenant to act as")),
    security(("bearer" = [])),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_session(
    tenant: TenantScope,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let id = Uuid::parse_str(&id).map_err(|_| not_found(&id))?;
    if sessions::delete(&tenant.db, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(id))
    }
}
