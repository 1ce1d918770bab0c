//! `/api/v1/plans`: named plans (operators). Plans of the configuration are listed and
//! read here but changed only there; plans made here live in the registry, and every
//! replica applies a change within a notification.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::json;
use tenantry_proto::{Plan, PlanSource, Problem, PutPlan, codes};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiPath, Operator};
use super::state::AppState;
use crate::catalog::CatalogError;
use crate::config::{PLAN_NAME_RULE, valid_plan_name};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_plans))
        .routes(routes!(get_plan, put_plan, delete_plan))
}

fn plan_not_found(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        codes::PLAN_NOT_FOUND,
        format!("no plan `{}`", name.chars().take(48).collect::<String>()),
    )
}

/// Every plan: the configuration's and the registry's, with how many tenants are on each.
async fn all_plans(state: &AppState) -> ApiResult<Vec<Plan>> {
    let counts: std::collections::HashMap<String, i64> = state
        .core
        .catalog
        .plan_tenants()
        .await?
        .into_iter()
        .collect();
    let tenants = |name: &str| counts.get(name).copied().unwrap_or(0).max(0) as u64;
    let mut plans: Vec<Plan> = state
        .core
        .config
        .plans
        .iter()
        .map(|(name, limits)| Plan {
            name: name.clone(),
            limits: limits.clone(),
            source: PlanSource::Config,
            tenants: tenants(name),
        })
        .collect();
    for record in state.core.catalog.plans().await? {
        if state.core.config.plans.contains_key(&record.name) {
            continue;
        }
        plans.push(Plan {
            limits: serde_json::from_value(record.limits.0).unwrap_or_default(),
            source: PlanSource::Api,
            tenants: tenants(&record.name),
            name: record.name,
        });
    }
    plans.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(plans)
}

/// The plans, by name.
#[utoipa::path(get, path = "/api/v1/plans", tag = "plans", security(("bearer" = [])),
    responses((status = 200, body = Vec<Plan>), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list_plans(_op: Operator, State(state): State<AppState>) -> ApiResult<Json<Vec<Plan>>> {
    all_plans(&state).await.map(Json)
}

#[utoipa::path(get, path = "/api/v1/plans/{name}", tag = "plans", params(("name" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = Plan), (status = 404, body = Problem)))]
async fn get_plan(
    _op: Operator,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<Plan>> {
    all_plans(&state)
        .await?
        .into_iter()
        .find(|p| p.name == name)
        .map(Json)
        .ok_or_else(|| plan_not_found(&name))
}

/// Creates a plan, or replaces its limits; tenants on it get the new limits on every
/// replica within a notification.
#[utoipa::path(put, path = "/api/v1/plans/{name}", tag = "plans", params(("name" = String, Path)),
    request_body = PutPlan, security(("bearer" = [])),
    responses((status = 201, body = Plan), (status = 200, body = Plan), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
async fn put_plan(
    op: Operator,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<PutPlan>,
) -> ApiResult<(StatusCode, Json<Plan>)> {
    if !valid_plan_name(&name) {
        return Err(ApiError::invalid(PLAN_NAME_RULE));
    }
    if state.core.config.plans.contains_key(&name) {
        return Err(in_config(&name));
    }
    let limits = serde_json::to_value(&body.limits).unwrap_or_default();
    let created = state.core.catalog.put_plan(&name, &limits).await?;
    state
        .audit(
            &op.actor,
            "plan.put",
            None,
            json!({ "plan": name, "limits": limits }),
        )
        .await?;
    state.routing.publish().await?;
    let plan = all_plans(&state)
        .await?
        .into_iter()
        .find(|p| p.name == name)
        .ok_or_else(|| plan_not_found(&name))?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(plan)))
}

/// Removes a plan no tenant is on.
#[utoipa::path(delete, path = "/api/v1/plans/{name}", tag = "plans", params(("name" = String, Path)),
    security(("bearer" = [])),
    responses((status = 204, description = "removed"), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn delete_plan(
    op: Operator,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    if state.core.config.plans.contains_key(&name) {
        return Err(in_config(&name));
    }
    match state.core.catalog.delete_plan(&name).await {
        Ok(()) => {}
        Err(CatalogError::NotFound(_)) => return Err(plan_not_found(&name)),
        Err(CatalogError::Conflict(_)) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                codes::PLAN_IN_USE,
                format!("tenants are on plan `{name}`; move them to another plan first"),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    state
        .audit(&op.actor, "plan.delete", None, json!({ "plan": name }))
        .await?;
    state.routing.publish().await?;
    Ok(StatusCode::NO_CONTENT)
}

fn in_config(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        codes::PLAN_IN_CONFIG,
        format!("plan `{name}` is defined in the configuration (plans.{name}); change it there"),
    )
}
