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
        notes: Vec::new(),
    })
}

/// Readiness: the registry answers, the routing is current, the credential broker works.
/// 503 with the failing checks otherwise. A Redis that does not answer is a note: the
/// server still serves (rate limits are not enforced meanwhile).
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
    let mut notes = Vec::new();
    if let Some(cache) = &state.core.cache
        && cache.ping().await.is_err()
    {
        notes.push("redis: not answering; rate limits are not enforced".to_owned());
    }
    let (status, word) = match checks.is_empty() {
        true => (StatusCode::OK, "ok"),
        false => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
    };
    (
        status,
        Json(Health {
            status: word.into(),
            checks,
            notes,
        }),
    )
}
