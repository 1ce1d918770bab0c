//! `/api/v1/migrations`: where every database stands on its chain (operators only).

use axum::Json;
use axum::extract::State;
use tenantry_proto::{ChainStatus, PendingMigration, Problem};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiResult;
use super::extract::Operator;
use super::state::AppState;
use crate::fanout::{self, Outcome, Plan, Quiet};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(migration_status))
}

/// The registry, shared database, templates and every tenant on their chains, changing
/// nothing. Tenants the registry records as current are reported from that record, so
/// the answer stays quick with many tenants (`tenantry migrate --status` connects to all).
#[utoipa::path(get, path = "/api/v1/migrations", tag = "migrations", security(("bearer" = [])),
    responses((status = 200, body = Vec<ChainStatus>), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn migration_status(
    _op: Operator,
    State(state): State<AppState>,
) -> ApiResult<Json<Vec<ChainStatus>>> {
    let core = &state.core;
    let plan = Plan {
        registry: true,
        tenants: true,
        only: Vec::new(),
        dry_run: true,
        verify: false,
        concurrency: core.config.migrations.concurrency,
    };
    let outcomes = fanout::run(core, &plan, &Quiet).await;
    Ok(Json(
        outcomes.into_iter().map(|o| status(core, o)).collect(),
    ))
}

fn status(core: &crate::core::Core, o: Outcome) -> ChainStatus {
    let latest = core.chains.latest(o.chain);
    let (current, pending) = match o.before {
        Some(s) => (
            Some(s.current),
            s.pending
                .into_iter()
                .map(|(version, description)| PendingMigration {
                    version,
                    description,
                })
                .collect(),
        ),
        None if o.skipped => (Some(latest), Vec::new()),
        None => (None, Vec::new()),
    };
    ChainStatus {
        target: o.target,
        chain: o.chain.as_str().to_owned(),
        current,
        latest,
        pending,
        recorded: o.skipped,
        error: o.error,
    }
}
