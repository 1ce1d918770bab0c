use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use tenantry_proto::Health;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

/// Liveness: the process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        checks: Vec::new(),
    })
}

/// Readiness: the registry answers. 503 with the failing checks otherwise.
#[utoipa::path(get, path = "/readyz", tag = "health", responses(
    (status = 200, body = Health), (status = 503, body = Health)))]
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let mut checks = Vec::new();
    if let Err(e) = state.core.registry.ping().await {
        tracing::warn!(error = %e, "readiness: registry unreachable");
        checks.push("registry: unreachable".to_owned());
    }
    if let Err(stale) = state.routing.freshness.check() {
        checks.push(format!("routing: {stale}"));
    }
    if let Some(why) = state.core.broker.problem().await {
        checks.push(format!(
            "credential broker ({}): {why}",
            state.core.broker.name()
        ));
    }
    if checks.is_empty() {
        (
            StatusCode::OK,
            Json(Health {
                status: "ok".into(),
                checks,
            }),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "unavailable".into(),
                checks,
            }),
        )
    }
}
