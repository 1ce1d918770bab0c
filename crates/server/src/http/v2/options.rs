//! `/api/v2/options`: service-wide settings in the shared partition; operators only
//! (tenant principals get 403 `operator_only`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use tenantry_proto::{Options, Problem, UpdateOptions, codes};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::policy;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{Access, ApiJson, Caller, Family};
use crate::http::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_options, update_options))
}

fn operator_only(caller: &Caller, access: Access) -> ApiResult<()> {
    policy::decide(Family::Options, access, &caller.0).map_err(|_| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            codes::OPERATOR_ONLY,
            "service-wide options are for operators",
        )
    })
}

#[utoipa::path(get, path = "/api/v2/options", tag = "v2", security(("bearer" = [])),
    responses((status = 200, body = Options), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn get_options(caller: Caller, State(state): State<AppState>) -> ApiResult<Json<Options>> {
    operator_only(&caller, Access::Read)?;
    Ok(Json(crate::options::get(&state.core.shared).await?))
}

#[utoipa::path(patch, path = "/api/v2/options", tag = "v2", request_body = UpdateOptions,
    security(("bearer" = [])),
    responses((status = 200, body = Options), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn update_options(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<UpdateOptions>,
) -> ApiResult<Json<Options>> {
    operator_only(&caller, Access::Write)?;
    crate::options::validate(&body).map_err(ApiError::invalid)?;
    let options = crate::options::set(&state.core.shared, &body).await?;
    let actor = crate::provisioner::Actor {
        name: caller.0.actor(),
        request_id: crate::http::request_id::current(),
    };
    state
        .audit(
            &actor,
            "options.update",
            None,
            serde_json::to_value(&body).unwrap_or_default(),
        )
        .await?;
    Ok(Json(options))
}
