//! A tenant admin's view (their tenant only: hosts, session templates, sessions,
//! enrollment tokens), and the enrollment-token forms operators share with them.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tenantry_proto::{
    CreateEnrollmentToken, EnrollmentToken, Host, IssuedEnrollmentToken, Page, Session,
    SessionTemplate,
};

use super::UiState;
use super::frame::{self, SignedIn, UiForm, answer, chrome, done, optional, parse_labels, render};
use super::session::{Flash, Who};
use super::views::{Rows, TenantHomePage};
use crate::names::Slug;

const SECTION_ROWS: u32 = 100;

pub async fn home(
    State(ui): State<UiState>,
    headers: HeaderMap,
    SignedIn(mut session): SignedIn,
) -> Response {
    let Who::TenantAdmin { tenant, .. } = session.who.clone() else {
        return Redirect::to("/ui/tenants").into_response();
    };
    let api = ui.api(&session);
    let urls = [
        format!("/api/v1/hosts?limit={SECTION_ROWS}"),
        format!("/api/v2/sessiontemplates?limit={SECTION_ROWS}"),
        format!("/api/v2/sessions?limit={SECTION_ROWS}"),
        format!("/api/v1/tenants/{tenant}/enrollment-tokens?limit={SECTION_ROWS}"),
    ];
    let (hosts, templates, sessions, tokens) = tokio::join!(
        api.get::<Page<Host>>(&urls[0]),
        api.get::<Page<SessionTemplate>>(&urls[1]),
        api.get::<Page<Session>>(&urls[2]),
        api.get::<Page<EnrollmentToken>>(&urls[3]),
    );
    // The hosts read proves the credential and the tenant still exist; when either is
    // gone, so is the session.
    if let Err(e) = &hosts
        && matches!(e.status(), StatusCode::UNAUTHORIZED | StatusCode::NOT_FOUND)
    {
        frame::end(&ui, &headers).await;
        return frame::to_login(Some("expired"));
    }
    let page = TenantHomePage {
        chrome: chrome(&mut session, tenant.clone(), "tenant"),
        display_name: tenant.clone(),
        slug: tenant,
        hosts: Rows::from(hosts.map(|p| p.items), Into::into),
        templates: Rows::from(templates.map(|p| p.items), Into::into),
        sessions: Rows::from(sessions.map(|p| p.items), Into::into),
        tokens: Rows::from(tokens.map(|p| p.items), Into::into),
    };
    render(&page)
}

/// The tenant a token form is about, and the page to return to: operators may name any
/// tenant (the API decides), a tenant admin only their own.
fn token_target<T>(form: &UiForm<T>, raw: &str) -> Option<(String, String)> {
    let slug = Slug::parse(raw).ok()?.to_string();
    match &form.session.who {
        Who::Operator { .. } => Some((slug.clone(), format!("/ui/tenants/{slug}"))),
        Who::TenantAdmin { tenant, .. } if *tenant == slug => Some((slug, "/ui/tenant".into())),
        Who::TenantAdmin { .. } => None,
    }
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    ttl: String,
    #[serde(default)]
    max_uses: String,
    #[serde(default)]
    labels: String,
}

pub async fn issue_token(
    State(ui): State<UiState>,
    Path(raw): Path<String>,
    form: UiForm<TokenForm>,
) -> Response {
    let Some((slug, back)) = token_target(&form, &raw) else {
        return frame::forbidden(form.session);
    };
    let f = &form.value;
    let max_uses = match optional(&f.max_uses).map(|s| s.parse::<u64>()) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => {
            return done(
                &ui,
                &form.headers,
                &back,
                Flash::Error("Maximum uses must be a whole number.".into()),
            )
            .await;
        }
    };
    let labels = match parse_labels(&f.labels) {
        Ok(l) => l,
        Err(e) => return done(&ui, &form.headers, &back, Flash::Error(e.into())).await,
    };
    let body = CreateEnrollmentToken {
        ttl: optional(&f.ttl),
        max_uses,
        labels,
    };
    let result = ui
        .api(&form.session)
        .post::<_, IssuedEnrollmentToken>(
            &format!("/api/v1/tenants/{slug}/enrollment-tokens"),
            &body,
        )
        .await;
    answer(&ui, &form.headers, &back, result, |t| Flash::Secret {
        label: format!(
            "Enrollment token for {slug}, valid until {}. Run `tenantry agent` with it on each host.",
            super::views::when(&t.info.expires_at)
        ),
        value: t.token,
    }).await
}

pub async fn revoke_token(
    State(ui): State<UiState>,
    Path((raw, id)): Path<(String, String)>,
    form: UiForm<std::collections::HashMap<String, String>>,
) -> Response {
    let Some((slug, back)) = token_target(&form, &raw) else {
        return frame::forbidden(form.session);
    };
    let Ok(id) = uuid::Uuid::parse_str(&id) else {
        return frame::not_found(Some(form.session));
    };
    let result = ui
        .api(&form.session)
        .delete::<serde_json::Value>(&format!("/api/v1/tenants/{slug}/enrollment-tokens/{id}"))
        .await;
    answer(&ui, &form.headers, &back, result, |_| {
        Flash::Notice("The token is revoked; agents can no longer enroll with it.".into())
    })
    .await
}
