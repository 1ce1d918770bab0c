//! `/api/v1/audit`: the registry's audit log (operators only).

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use tenantry_proto::{AuditEvent, Page, Problem};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::error::ApiResult;
use super::extract::{ApiQuery, Operator};
use super::pagination::{PageParams, invalid_cursor, page};
use super::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditParams {
    /// Only events about this tenant.
    tenant: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// Audit events, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditParams), security(("bearer" = [])),
    responses((status = 200, body = Page<AuditEvent>), (status = 401, body = Problem)))]
async fn list_audit(
    _op: Operator,
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> ApiResult<Json<Page<AuditEvent>>> {
    let paging = PageParams {
        limit: params.limit,
        cursor: params.cursor.clone(),
    };
    let limit = paging.limit()?;
    let before = match &params.cursor {
        Some(c) => Some(Uuid::parse_str(c).map_err(|_| invalid_cursor())?),
        None => None,
    };
    let rows = state
        .core
        .catalog
        .audit_events(params.tenant.as_deref(), before, limit + 1)
        .await?;
    Ok(Json(page(rows, limit, |e| e.id.to_string())))
}
