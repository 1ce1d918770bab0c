//! What every page shares: who is signed in (extractors that send everyone else to the
//! sign-in page or a 403 page), the frame around the content, forms with CSRF checks,
//! rendering, redirects and error pages.

use super::session::SessionError;
use askama::Template;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::de::DeserializeOwned;

use super::UiState;
use super::api::{Api, CallError};
use super::session::{Flash, Session, Who};
use super::views::{Chrome, ErrorPage, Message};

/// Largest form body the UI accepts.
const MAX_FORM: usize = 64 * 1024;

/// A signed-in user; anyone else is sent to the sign-in page.
pub struct SignedIn(pub Session);

impl FromRequestParts<UiState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, ui: &UiState) -> Result<Self, Response> {
        signed_in(ui, &parts.headers).await.map(SignedIn)
    }
}

/// The request's session; the sign-in page without one; 503 when sessions cannot be read.
async fn signed_in(ui: &UiState, headers: &HeaderMap) -> Result<Session, Response> {
    match ui.sessions.get(headers).await {
        Ok(Some(session)) => Ok(session),
        Ok(None) => Err(to_login(None)),
        Err(e) => Err(sessions_unavailable(&e)),
    }
}

/// Sessions live in Redis or the registry; while neither answers nobody can be signed in.
pub fn sessions_unavailable(e: &SessionError) -> Response {
    tracing::error!(error = %e, "UI sessions unavailable");
    error_page(
        None,
        StatusCode::SERVICE_UNAVAILABLE,
        "Sign-in unavailable",
        "Sessions cannot be read or stored right now (their store does not answer). Tenant data is still served through the API; try again shortly.",
    )
}

/// A signed-in operator; a tenant admin gets the 403 page.
pub struct OperatorSession(pub Session);

impl FromRequestParts<UiState> for OperatorSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, ui: &UiState) -> Result<Self, Response> {
        let SignedIn(session) = SignedIn::from_request_parts(parts, ui).await?;
        if !matches!(session.who, Who::Operator { .. }) {
            return Err(forbidden(session));
        }
        Ok(OperatorSession(session))
    }
}

/// A form posted by a signed-in user, with this session's CSRF token. Without the token
/// (or with another session's), the answer is 403 and nothing is done.
pub struct UiForm<T> {
    pub session: Session,
    pub value: T,
    pub headers: HeaderMap,
}

impl<T: DeserializeOwned> FromRequest<UiState> for UiForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, ui: &UiState) -> Result<Self, Response> {
        let headers = req.headers().clone();
        let session = signed_in(ui, &headers).await?;
        let body = read_form(req).await?;
        if !session.csrf_matches(form_field(&body, "csrf").as_deref()) {
            return Err(csrf_refused(Some(session)));
        }
        let value = serde_urlencoded::from_bytes(&body).map_err(|_| {
            error_page(
                Some(session.clone()),
                StatusCode::BAD_REQUEST,
                "Bad form",
                "The form could not be read; reload the page and try again.",
            )
        })?;
        Ok(UiForm {
            session,
            value,
            headers,
        })
    }
}

pub async fn read_form(req: Request) -> Result<Bytes, Response> {
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(csrf_refused(None));
    }
    axum::body::to_bytes(req.into_body(), MAX_FORM)
        .await
        .map_err(|_| {
            error_page(
                None,
                StatusCode::PAYLOAD_TOO_LARGE,
                "Form too large",
                "That form is larger than this server accepts.",
            )
        })
}

/// One field of an urlencoded body.
pub fn form_field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

impl UiState {
    /// The API as this session's user.
    pub fn api<'a>(&'a self, session: &'a Session) -> Api<'a> {
        Api {
            router: &self.api,
            credential: session.credential.expose(),
            as_tenant: None,
        }
    }
}

/// The frame of a page for `session`, with its pending messages.
pub fn chrome(session: &mut Session, title: impl Into<String>, section: &'static str) -> Chrome {
    let who = match &session.who {
        Who::Operator { key_id } => format!("Operator (key {key_id})"),
        Who::TenantAdmin { tenant, .. } => format!("Admin of {tenant}"),
    };
    Chrome {
        title: title.into(),
        who: Some(who),
        operator: matches!(session.who, Who::Operator { .. }),
        section,
        csrf: session.csrf.clone(),
        messages: session
            .take_flash()
            .into_iter()
            .map(Message::from)
            .collect(),
    }
}

/// The frame of a page nobody is signed in to.
pub fn anonymous_chrome(title: &str) -> Chrome {
    Chrome {
        title: title.to_owned(),
        who: None,
        operator: false,
        section: "",
        csrf: String::new(),
        messages: Vec::new(),
    }
}

pub fn render(page: &impl Template) -> Response {
    render_with(StatusCode::OK, page)
}

pub fn render_with(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a UI template failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
}

pub fn error_page(
    session: Option<Session>,
    status: StatusCode,
    heading: &str,
    message: &str,
) -> Response {
    let chrome = match session {
        Some(mut s) => chrome(&mut s, heading, ""),
        None => anonymous_chrome(heading),
    };
    render_with(
        status,
        &ErrorPage {
            chrome,
            heading: heading.to_owned(),
            message: message.to_owned(),
        },
    )
}

pub fn forbidden(session: Session) -> Response {
    error_page(
        Some(session),
        StatusCode::FORBIDDEN,
        "Not yours to see",
        "This page is for operators. You are signed in as a tenant admin and see only your tenant.",
    )
}

pub fn not_found(session: Option<Session>) -> Response {
    error_page(
        session,
        StatusCode::NOT_FOUND,
        "Not found",
        "There is no such page, or what it showed no longer exists.",
    )
}

pub fn csrf_refused(session: Option<Session>) -> Response {
    error_page(
        session,
        StatusCode::FORBIDDEN,
        "Form refused",
        "The form did not carry this session's security token (it may be from another site, or older than your sign-in). Nothing was changed; reload the page and try again.",
    )
}

/// A page whose main read failed: a credential that stopped working ends the session;
/// refusals become the matching error page.
pub async fn failed(
    ui: &UiState,
    headers: &HeaderMap,
    session: Session,
    e: &CallError,
) -> Response {
    match e.status() {
        StatusCode::UNAUTHORIZED => {
            end(ui, headers).await;
            to_login(Some("expired"))
        }
        StatusCode::FORBIDDEN => forbidden(session),
        StatusCode::NOT_FOUND => not_found(Some(session)),
        status => error_page(Some(session), status, "Something went wrong", &e.message()),
    }
}

/// After a form: back to `to` with a message for the next page.
pub async fn done(ui: &UiState, headers: &HeaderMap, to: &str, flash: Flash) -> Response {
    if let Err(e) = ui.sessions.flash(headers, flash).await {
        return sessions_unavailable(&e);
    }
    Redirect::to(to).into_response()
}

/// Ends the request's session. If the store cannot be reached, the session outlives this
/// (its credential, which no longer works, is what it would have offered).
pub async fn end(ui: &UiState, headers: &HeaderMap) {
    if let Err(e) = ui.sessions.end(headers).await {
        tracing::warn!(error = %e, "could not end a UI session");
    }
}

/// After a form's API call: back to `to` with `ok`'s message for what the API answered,
/// or with the API's refusal.
pub async fn answer<T>(
    ui: &UiState,
    headers: &HeaderMap,
    to: &str,
    result: Result<T, CallError>,
    ok: impl FnOnce(T) -> Flash,
) -> Response {
    match result {
        Ok(value) => done(ui, headers, to, ok(value)).await,
        Err(e) => refused(ui, headers, to, &e).await,
    }
}

/// After a form the API refused: back with its message, or out if the credential died.
pub async fn refused(ui: &UiState, headers: &HeaderMap, to: &str, e: &CallError) -> Response {
    if e.status() == StatusCode::UNAUTHORIZED {
        end(ui, headers).await;
        return to_login(Some("expired"));
    }
    done(ui, headers, to, Flash::Error(e.message())).await
}

pub fn to_login(reason: Option<&str>) -> Response {
    match reason {
        Some(r) => Redirect::to(&format!("/ui/login?{r}=1")).into_response(),
        None => Redirect::to("/ui/login").into_response(),
    }
}

/// A path segment for an API URL: everything but unreserved characters percent-encoded.
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `k=v, k2=v2` as labels.
pub fn parse_labels(
    text: &str,
) -> Result<std::collections::BTreeMap<String, String>, &'static str> {
    text.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|pair| {
            pair.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .filter(|(k, _)| !k.is_empty())
                .ok_or("labels are written key=value, separated by commas")
        })
        .collect()
}

/// An optional form field: empty means absent.
pub fn optional(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_and_labels() {
        assert_eq!(segment("a.example.com"), "a.example.com");
        assert_eq!(segment("../x?y"), "..%2Fx%3Fy");
        let labels = parse_labels(" tier=gold, disk = ssd ,").unwrap_or_default();
        assert_eq!(labels.get("disk").map(String::as_str), Some("ssd"));
        assert_eq!(labels.len(), 2);
        assert!(parse_labels("tier").is_err());
        assert!(parse_labels("=x").is_err());
        assert_eq!(
            form_field(b"a=1&csrf=x%20y", "csrf").as_deref(),
            Some("x y")
        );
    }
}
