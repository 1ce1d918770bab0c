//! The HTTP API: one module per area, composed here with the OpenAPI document they
//! describe, served at `/api/openapi.json` and browsable at `/api/docs`. The UI sits
//! above it; both are composed in [`crate::app`].

mod agent;
mod audit;
pub mod detach;
mod domains;
mod enrollment;
mod error;
mod extract;
mod health;
mod hosts;
mod input;
mod instances;
mod keys;
mod media;
mod metrics;
mod migrations;
mod pagination;
mod plans;
pub mod request_id;
mod state;
mod tenants;
mod v2;

pub use error::{ApiError, ApiResult};
pub use extract::MASQUERADE_HEADER;
pub use input::refuse_nul_in_uri;
pub use state::AppState;

use axum::Router;
use axum::http::StatusCode;
use tenantry_proto::codes;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tenantry",
        description = "Multi-tenant control plane and data router. Errors are RFC 9457 problem documents \
        with a stable `code`. Operators authenticate with `Authorization: Bearer tnt_…` and act as a tenant \
        with `X-Tenantry-Tenant`."
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "tenants", description = "Tenant lifecycle (operators)"),
        (name = "plans", description = "Named plans: limits tenants get unless their own override them (operators)"),
        (name = "domains", description = "Domains that route to a tenant"),
        (name = "enrollment", description = "Enrollment tokens agents join a tenant with"),
        (name = "hosts", description = "A tenant's hosts, stored in its own database"),
        (name = "media", description = "A tenant's files (boot images, kernels), in the media store every replica shares"),
        (name = "keys", description = "The trust store of public keys for tenant tokens, and recovery tokens"),
        (name = "instances", description = "Database instances tenants are placed on"),
        (name = "migrations", description = "Where every database stands on its migration chain"),
        (name = "audit", description = "Audit log"),
        (name = "health", description = "Liveness and readiness"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The OpenAPI document of every route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_routes().split_for_parts().1
}

fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(health::routes())
        .merge(tenants::routes())
        .merge(plans::routes())
        .merge(domains::routes())
        .merge(enrollment::routes())
        .merge(agent::routes())
        .merge(v2::routes())
        .merge(hosts::routes())
        .merge(media::routes())
        .merge(instances::routes())
        .merge(migrations::routes())
        .merge(keys::routes())
        .merge(audit::routes())
}

/// The API's routes, its document at `/api/openapi.json` and `/metrics`. The UI is
/// composed beside it in [`crate::app`], and calls it in process.
pub fn api_router(state: AppState) -> Router {
    let (router, api) = api_routes().split_for_parts();
    router
        .merge(SwaggerUi::new("/api/docs").url("/api/openapi.json", api))
        .merge(metrics::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(axum::middleware::from_fn(input::refuse_nul_in_uri))
}

/// What every request passes, whichever router serves it: a request id, and a task of
/// its own that a client hanging up cannot cancel (decision 0009).
pub fn outer_layers(router: Router, state: &AppState) -> Router {
    router
        .layer(axum::middleware::from_fn(request_id::middleware))
        .layer(axum::middleware::from_fn_with_state(
            std::sync::Arc::clone(&state.in_flight),
            detach::middleware,
        ))
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        codes::NOT_FOUND,
        "no such route; see /api/openapi.json",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        codes::METHOD_NOT_ALLOWED,
        "this route does not take that method",
    )
}
