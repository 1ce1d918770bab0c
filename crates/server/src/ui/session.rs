//! Browser sessions of the admin UI: a random id in an HttpOnly, SameSite=Strict cookie,
//! mapped in memory to the credential the user signed in with and a CSRF token.
//!
//! The store keeps only the SHA-256 of each session id, so a memory dump or a log line
//! with a store key cannot be replayed as a cookie. Sessions live in this process: a
//! restart signs everyone out, which is the safe failure.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use axum::http::header::COOKIE;

use crate::secret::Secret;
use crate::secret::api_key;

pub const COOKIE_NAME: &str = "tenantry_session";
/// Double-submit token of the sign-in form, which has no session yet.
pub const LOGIN_COOKIE_NAME: &str = "tenantry_login";
/// How long a session lasts at most (a token's own expiry can end it sooner).
pub const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);
/// More live sessions than this and the oldest are dropped.
const MAX_SESSIONS: usize = 10_000;

/// Who a session belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    Operator { key_id: String },
    TenantAdmin { tenant: String, subject: String },
}

/// A one-time message for the next page (after a redirect).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flash {
    Notice(String),
    Error(String),
    /// A secret shown exactly once (a new token), with what it is.
    Secret {
        label: String,
        value: String,
    },
}

#[derive(Clone)]
pub struct Session {
    pub who: Who,
    /// What the API is called with on the user's behalf.
    pub credential: std::sync::Arc<Secret>,
    pub csrf: String,
    expires: Instant,
    flash: Vec<Flash>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("who", &self.who)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
pub struct Sessions {
    by_hash: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// Starts a session; returns the cookie value. `lifetime` is capped at [`SESSION_TTL`].
    pub fn start(
        &self,
        who: Who,
        credential: Secret,
        lifetime: Duration,
    ) -> Result<String, getrandom::Error> {
        let id = random()?;
        let session = Session {
            who,
            credential: std::sync::Arc::new(credential),
            csrf: random()?,
            expires: Instant::now() + lifetime.min(SESSION_TTL),
            flash: Vec::new(),
        };
        let mut map = self.lock();
        let now = Instant::now();
        map.retain(|_, s| s.expires > now);
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(api_key::hash(&id), session);
        Ok(id)
    }

    /// The live session the request's cookie names, with its pending messages taken.
    pub fn get(&self, headers: &HeaderMap) -> Option<Session> {
        let id = cookie(headers, COOKIE_NAME)?;
        let key = api_key::hash(id);
        let mut map = self.lock();
        let session = map.get_mut(&key)?;
        if session.expires <= Instant::now() {
            map.remove(&key);
            return None;
        }
        let mut found = session.clone();
        found.flash = std::mem::take(&mut session.flash);
        Some(found)
    }

    /// Messages this session has not shown yet.
    pub fn flash(&self, headers: &HeaderMap, flash: Flash) {
        if let Some(id) = cookie(headers, COOKIE_NAME)
            && let Some(session) = self.lock().get_mut(&api_key::hash(id))
        {
            session.flash.push(flash);
        }
    }

    pub fn end(&self, headers: &HeaderMap) {
        if let Some(id) = cookie(headers, COOKIE_NAME) {
            self.lock().remove(&api_key::hash(id));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // A panic while holding the lock cannot leave a half-written session behind.
        self.by_hash
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Session {
    pub fn take_flash(&mut self) -> Vec<Flash> {
        std::mem::take(&mut self.flash)
    }

    /// Whether a form's token is this session's (compared in constant time).
    pub fn csrf_matches(&self, token: Option<&str>) -> bool {
        token.is_some_and(|t| constant_time_eq(t.as_bytes(), self.csrf.as_bytes()))
    }
}

/// A new random token (about 238 bits).
pub fn random() -> Result<String, getrandom::Error> {
    api_key::generate_with_prefix("").map(|s| s.expose().to_owned())
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The value of cookie `name`, if the request sent it.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value scoped to the UI. `secure` when the page came over TLS.
pub fn set_cookie(name: &str, value: &str, path: &str, max_age: Duration, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{name}={value}; Path={path}; Max-Age={}; HttpOnly; SameSite=Strict{secure}",
        max_age.as_secs()
    )
}

/// Whether the browser reached us over TLS: a TLS-terminating proxy in front says so.
pub fn over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_cookie(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_str(value).unwrap_or(HeaderValue::from_static("")),
        );
        h
    }

    #[test]
    fn sessions_start_find_flash_and_end() {
        let sessions = Sessions::default();
        let who = Who::Operator { key_id: "k".into() };
        let id = sessions
            .start(who.clone(), Secret::new("tnt_x"), SESSION_TTL)
            .unwrap_or_default();
        let headers = with_cookie(&format!("other=1; {COOKIE_NAME}={id}"));
        let session = sessions.get(&headers);
        assert_eq!(session.as_ref().map(|s| &s.who), Some(&who));
        let csrf = session.map(|s| s.csrf).unwrap_or_default();
        sessions.flash(&headers, Flash::Notice("hi".into()));
        let mut again = sessions.get(&headers).map(|mut s| s.take_flash());
        assert_eq!(again.take(), Some(vec![Flash::Notice("hi".into())]));
        assert_eq!(sessions.get(&headers).map(|s| s.flash.len()), Some(0));
        let s = sessions.get(&headers);
        assert!(s.as_ref().is_some_and(|s| s.csrf_matches(Some(&csrf))));
        assert!(s.as_ref().is_some_and(|s| !s.csrf_matches(Some("nope"))));
        assert!(s.as_ref().is_some_and(|s| !s.csrf_matches(None)));
        sessions.end(&headers);
        assert!(sessions.get(&headers).is_none());
        assert!(
            sessions
                .get(&with_cookie(&format!("{COOKIE_NAME}=forged")))
                .is_none()
        );
    }

    #[test]
    fn an_expired_session_is_gone() {
        let sessions = Sessions::default();
        let who = Who::Operator { key_id: "k".into() };
        let id = sessions
            .start(who, Secret::new("tnt_x"), Duration::ZERO)
            .unwrap_or_default();
        assert!(
            sessions
                .get(&with_cookie(&format!("{COOKIE_NAME}={id}")))
                .is_none()
        );
    }
}
