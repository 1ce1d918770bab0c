//! `/api/v1/instances`: where tenants can be placed (operators only).

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::extract::State;
use tenantry_proto::{Instance, Problem};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiResult;
use super::extract::Operator;
use super::state::AppState;
use crate::provisioner::EMBEDDED_INSTANCE;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_instances))
}

/// Instances with their region, labels and tenant counts.
#[utoipa::path(get, path = "/api/v1/instances", tag = "instances", security(("bearer" = [])),
    responses((status = 200, body = Vec<Instance>), (status = 401, body = Problem)))]
async fn list_instances(
    _op: Operator,
    State(state): State<AppState>,
) -> ApiResult<Json<Vec<Instance>>> {
    let counts: HashMap<String, i64> = state
        .core
        .catalog
        .tenants_per_instance()
        .await?
        .into_iter()
        .collect();
    let count = |name: &str| counts.get(name).copied().unwrap_or(0).max(0) as u64;
    let mut instances: Vec<Instance> = state
        .core
        .storage
        .instances()
        .map(|i| Instance {
            name: i.name.clone(),
            region: i.region.clone(),
            labels: i.labels.clone(),
            max_tenants: i.max_tenants,
            tenants: count(&i.name),
        })
        .collect();
    if instances.is_empty() {
        // The embedded backend is one implicit instance: the data directory.
        instances.push(Instance {
            name: EMBEDDED_INSTANCE.to_owned(),
            region: String::new(),
            labels: BTreeMap::new(),
            max_tenants: None,
            tenants: count(EMBEDDED_INSTANCE),
        });
    }
    Ok(Json(instances))
}
