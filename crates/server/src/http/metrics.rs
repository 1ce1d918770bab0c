//! `/metrics`: Prometheus text exposition of the server's own numbers: a handful of gauges
//! and counters written here, and the catalog's operation histogram from its
//! `prometheus-client` registry. No metric carries a tenant label, so the endpoint
//! reveals no tenant names.

use std::fmt::Write;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::state::AppState;

pub fn routes() -> axum::Router<AppState> {
    axum::Router::new().route("/metrics", axum::routing::get(metrics))
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let pools = state.pools.stats();
    let snapshot = state.routing.snapshot();
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    };
    metric(
        "tenantry_http_requests_in_flight",
        "gauge",
        "Requests being handled now (this one included), whether or not their clients still wait.",
        state.in_flight.count(),
    );
    metric(
        "tenantry_tenant_pools_open",
        "gauge",
        "Tenant connection pools open now.",
        pools.open_pools,
    );
    metric(
        "tenantry_tenant_connections_open",
        "gauge",
        "Connections open to tenant storage now, over all pools.",
        pools.open_connections,
    );
    metric(
        "tenantry_tenant_connection_budget",
        "gauge",
        "The most connections that may be open to tenant storage at once (pools.max_connections).",
        u64::from(pools.budget),
    );
    metric(
        "tenantry_tenant_pool_evictions_total",
        "counter",
        "Tenant pools closed to stay within pools.max_open / the budget, or for idleness.",
        pools.evictions,
    );
    metric(
        "tenantry_routing_tenants",
        "gauge",
        "Tenants in the routing snapshot.",
        snapshot.tenant_count() as u64,
    );
    metric(
        "tenantry_routing_generation",
        "counter",
        "Routing snapshots published by this process.",
        snapshot.generation,
    );
    metric(
        "tenantry_routing_full_reloads_total",
        "counter",
        "Full re-reads of the catalog: at start, the periodic safety net, and after other server processes announced changes.",
        state.routing.full_reloads(),
    );
    if let Some(broker) = state.core.broker.stats() {
        metric(
            "tenantry_openbao_requests_total",
            "counter",
            "HTTP calls this process made to OpenBAO.",
            broker.calls,
        );
        metric(
            "tenantry_openbao_leases",
            "gauge",
            "Tenant credentials (OpenBAO leases) held in memory now.",
            broker.leases,
        );
        metric(
            "tenantry_openbao_lease_renewals_total",
            "counter",
            "Tenant leases renewed.",
            broker.renewals,
        );
        metric(
            "tenantry_openbao_lease_rotations_total",
            "counter",
            "Tenant leases replaced by fresh ones near their maximum TTL (or after a failure).",
            broker.rotations,
        );
    }
    if let Some(cache) = &state.core.cache {
        metric(
            "tenantry_redis_failures_total",
            "counter",
            "Redis calls that failed or timed out; rate limits admitted those requests (fail open).",
            cache.failures(),
        );
    }
    // The catalog's histogram, from its registry (a library's encoder, not ours).
    if let Err(e) = state.core.catalog.metrics().encode(&mut out) {
        tracing::warn!(error = %e, "could not encode the catalog's metrics");
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}
