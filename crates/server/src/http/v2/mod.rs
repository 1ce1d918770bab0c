//! API v2: boot orchestration (BOS-style). Templates and sessions are fleet data of the
//! resolved tenant; components are read by the tenant and changed by operators; options
//! are the operators' alone.

mod components;
mod options;
mod session_templates;
mod sessions;

use utoipa_axum::router::OpenApiRouter;

use super::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(session_templates::routes())
        .merge(sessions::routes())
        .merge(components::routes())
        .merge(options::routes())
}
