//! Signing in and out. The sign-in form has no session yet, so its CSRF token is a
//! double-submit cookie scoped to `/ui/login`.

use std::time::Duration;

use axum::extract::{Query, Request, State};
use axum::http::header::{AUTHORIZATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;

use super::UiState;
use super::frame::{self, UiForm, anonymous_chrome, csrf_refused, render_with};
use super::session::{self, Flash, LOGIN_COOKIE_NAME, SESSION_TTL, Who, constant_time_eq};
use super::views::{LoginPage, Message};
use crate::auth::{Principal, authenticate};
use crate::identity::Role;
use crate::provisioner::Actor;
use crate::secret::Secret;

const LOGIN_FORM_TTL: Duration = Duration::from_secs(3600);

#[derive(Deserialize)]
pub struct LoginQuery {
    expired: Option<String>,
    signed_out: Option<String>,
}

/// `/ui`: where a signed-in user starts.
pub async fn start(ui: State<UiState>, headers: HeaderMap) -> Response {
    match ui.sessions.get(&headers).await {
        Ok(Some(s)) => match s.who {
            Who::Operator { .. } => Redirect::to("/ui/tenants").into_response(),
            Who::TenantAdmin { .. } => Redirect::to("/ui/tenant").into_response(),
        },
        Ok(None) => frame::to_login(None),
        Err(e) => frame::sessions_unavailable(&e),
    }
}

pub async fn form(ui: State<UiState>, headers: HeaderMap, Query(q): Query<LoginQuery>) -> Response {
    if let Ok(Some(_)) = ui.sessions.get(&headers).await {
        return Redirect::to("/ui").into_response();
    }
    let mut chrome = anonymous_chrome("Sign in");
    if q.expired.is_some() {
        chrome.messages.push(Message::from(Flash::Error(
            "Your sign-in ended (it expired or its key was revoked); sign in again.".into(),
        )));
    }
    if q.signed_out.is_some() {
        chrome
            .messages
            .push(Message::from(Flash::Notice("You are signed out.".into())));
    }
    login_page(&headers, chrome, None, StatusCode::OK)
}

/// The sign-in form, reusing the browser's form token when it has one.
fn login_page(
    headers: &HeaderMap,
    chrome: super::views::Chrome,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let token = match session::cookie(headers, LOGIN_COOKIE_NAME) {
        Some(t) if t.len() >= 32 && t.bytes().all(|b| b.is_ascii_alphanumeric()) => t.to_owned(),
        _ => match session::random() {
            Ok(t) => t,
            Err(_) => return (StatusCode::INTERNAL_SERVER_ERROR, "no randomness").into_response(),
        },
    };
    let mut response = render_with(
        status,
        &LoginPage {
            chrome,
            login_csrf: token.clone(),
            error,
        },
    );
    let cookie = session::set_cookie(
        LOGIN_COOKIE_NAME,
        &token,
        "/ui/login",
        LOGIN_FORM_TTL,
        session::over_tls(headers),
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(SET_COOKIE, v);
    }
    response
}

#[derive(Deserialize)]
struct Credentials {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    credential: String,
}

pub async fn sign_in(State(ui): State<UiState>, req: Request) -> Response {
    let headers = req.headers().clone();
    let body = match frame::read_form(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let form: Credentials = serde_urlencoded::from_bytes(&body).unwrap_or(Credentials {
        csrf: String::new(),
        credential: String::new(),
    });
    let expected = session::cookie(&headers, LOGIN_COOKIE_NAME).unwrap_or("");
    if form.csrf.is_empty() || !constant_time_eq(form.csrf.as_bytes(), expected.as_bytes()) {
        return csrf_refused(None);
    }
    let again = |message: &str| {
        login_page(
            &headers,
            anonymous_chrome("Sign in"),
            Some(message.to_owned()),
            StatusCode::UNAUTHORIZED,
        )
    };
    let credential = form.credential.trim();
    let Some(principal) = check(&ui, credential) else {
        return again("That API key or token was not accepted. Check it and try again.");
    };
    let who = match &principal {
        Principal::Operator { key_id } => Who::Operator {
            key_id: key_id.clone(),
        },
        Principal::Tenant {
            tenant,
            role: Role::Admin,
            subject,
            ..
        } => Who::TenantAdmin {
            tenant: tenant.clone(),
            subject: subject.clone(),
        },
        Principal::Tenant { .. } => {
            return again(
                "Tenant members cannot sign in here; ask an operator for a tenant-admin token.",
            );
        }
        Principal::Host { .. } | Principal::Enrollment { .. } => {
            return again("Sign in with an operator API key or a tenant-admin token.");
        }
    };
    let id = match ui
        .sessions
        .start(who, Secret::new(credential), SESSION_TTL)
        .await
    {
        Ok(id) => id,
        Err(e) => return frame::sessions_unavailable(&e),
    };
    let actor = Actor {
        name: principal.actor(),
        request_id: crate::http::request_id::current(),
    };
    let tenant = principal.tenant().and_then(|slug| {
        ui.app
            .routing
            .snapshot()
            .tenant(slug)
            .map(|r| (slug.to_owned(), r.id))
    });
    if let Err(e) = ui
        .app
        .audit(
            &actor,
            "ui.sign_in",
            tenant.as_ref().map(|(s, id)| (s.as_str(), *id)),
            json!({}),
        )
        .await
    {
        tracing::warn!(error = %e, "could not audit a UI sign-in");
    }
    let secure = session::over_tls(&headers);
    let mut response = Redirect::to("/ui").into_response();
    let cookies = [
        session::set_cookie(session::COOKIE_NAME, &id, "/ui", SESSION_TTL, secure),
        session::set_cookie(LOGIN_COOKIE_NAME, "", "/ui/login", Duration::ZERO, secure),
    ];
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(&c) {
            response.headers_mut().append(SET_COOKIE, v);
        }
    }
    response
}

/// The principal a credential authenticates as, by the same check as every API request.
fn check(ui: &UiState, credential: &str) -> Option<Principal> {
    if credential.is_empty() || credential.len() > 16 * 1024 {
        return None;
    }
    let mut headers = HeaderMap::new();
    headers.insert(
        AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {credential}")).ok()?,
    );
    let app = &ui.app;
    // A snapshot that may be out of date signs nobody in (the removed key it may hold).
    let snapshot = app.routing.current().ok()?;
    authenticate(
        &headers,
        &snapshot,
        &app.tokens,
        app.core.config.auth.audience.as_deref(),
        &app.signer.public.kid,
    )
    .ok()
}

pub async fn sign_out(
    State(ui): State<UiState>,
    form: UiForm<std::collections::HashMap<String, String>>,
) -> Response {
    if let Err(e) = ui.sessions.end(&form.headers).await {
        return frame::sessions_unavailable(&e);
    }
    let mut response = Redirect::to("/ui/login?signed_out=1").into_response();
    let cookie = session::set_cookie(
        session::COOKIE_NAME,
        "",
        "/ui",
        Duration::ZERO,
        session::over_tls(&form.headers),
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(SET_COOKIE, v);
    }
    response
}
