//! The admin UI at `/ui`: server-rendered pages for operators (Settings → Tenants,
//! Instances, Migrations) and tenant admins (their own tenant only).
//!
//! Pages are a client of the API in the same process ([`api`]): the UI holds no policy of
//! its own, so it can never show or change more than the signed-in credential may.
//! Sessions ([`session`]) are cookies; every form carries a CSRF token ([`frame`]).

mod api;
mod fleet;
mod frame;
mod login;
mod seal;
mod session;
mod system;
mod tenants;
mod views;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::http::AppState;
use session::Sessions;

/// What the UI's handlers reach: the API router it calls, the sessions, and the server's
/// state for sign-in checks and audit.
#[derive(Clone)]
pub struct UiState {
    app: AppState,
    api: Router,
    sessions: Arc<Sessions>,
}

const STYLE: &str = include_str!("assets/style.css");
const SCRIPT: &str = include_str!("assets/ui.js");

/// The UI's routes; `api` is the API router its pages call.
pub fn routes(app: AppState, api: Router) -> Router {
    let sessions = Sessions::shared(app.core.catalog.clone(), app.core.cache.clone());
    let ui = UiState {
        app,
        api,
        sessions: Arc::new(sessions),
    };
    Router::new()
        .route("/ui", get(login::start))
        .route("/ui/", get(login::start))
        .route("/ui/login", get(login::form).post(login::sign_in))
        .route("/ui/logout", post(login::sign_out))
        .route("/ui/assets/style.css", get(style))
        .route("/ui/assets/ui.js", get(script))
        .route("/ui/tenants", get(tenants::list).post(tenants::create))
        .route("/ui/tenants/{slug}", get(tenants::show))
        .route("/ui/tenants/{slug}/status", post(tenants::set_status))
        .route("/ui/tenants/{slug}/domains", post(tenants::add_domain))
        .route(
            "/ui/tenants/{slug}/domains/remove",
            post(tenants::remove_domain),
        )
        .route("/ui/tenants/{slug}/admin-token", post(tenants::admin_token))
        .route("/ui/tenants/{slug}/delete", post(tenants::delete))
        .route(
            "/ui/tenants/{slug}/enrollment-tokens",
            post(fleet::issue_token),
        )
        .route(
            "/ui/tenants/{slug}/enrollment-tokens/{id}/revoke",
            post(fleet::revoke_token),
        )
        .route("/ui/tenant", get(fleet::home))
        .route("/ui/instances", get(system::instances))
        .route("/ui/migrations", get(system::migrations))
        .route("/ui/{*rest}", get(unknown_page))
        .layer(axum::middleware::map_response(page_headers))
        .with_state(ui)
}

async fn unknown_page(State(ui): State<UiState>, headers: HeaderMap) -> Response {
    frame::not_found(ui.sessions.get(&headers).await.ok().flatten())
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

/// Pages are never cached (some show a secret once), never framed, and run only our own
/// script and stylesheet.
async fn page_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}
