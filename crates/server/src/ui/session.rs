//! Browser sessions of the admin UI: a random id in an HttpOnly, SameSite=Strict cookie,
//! naming the credential the user signed in with, a CSRF token and pending messages.
//!
//! Sessions are shared by every server: in Redis when `cache.url` is set, else in the
//! registry, so the next page may come from another replica, a sign-out on one ends it on
//! all, and a restart signs nobody out. The store is keyed by the SHA-256 of the id and
//! holds the session sealed under a key derived from the id (`seal.rs`): what it keeps
//! cannot be replayed as a cookie, nor read for a credential.

#[cfg(test)]
use std::collections::HashMap;
use std::sync::Arc;
#[cfg(test)]
use std::sync::Mutex;
use std::time::Duration;

use axum::http::HeaderMap;
use axum::http::header::COOKIE;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::seal;
use crate::cache::Cache;
use crate::catalog::Catalog;
use crate::secret::Secret;
use crate::secret::api_key;

pub const COOKIE_NAME: &str = "tenantry_session";
/// Double-submit token of the sign-in form, which has no session yet.
pub const LOGIN_COOKIE_NAME: &str = "tenantry_login";
/// How long a session lasts at most (a token's own expiry can end it sooner).
pub const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);
/// Redis keys of sessions (not a tenant's: `tenantry:`, never `t:`).
const REDIS_PREFIX: &str = "tenantry:ui-session:";

/// Who a session belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Who {
    Operator { key_id: String },
    TenantAdmin { tenant: String, subject: String },
}

/// A one-time message for the next page (after a redirect).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    pub credential: Arc<Secret>,
    pub csrf: String,
    flash: Vec<Flash>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("who", &self.who)
            .finish_non_exhaustive()
    }
}

/// What is sealed in the store.
#[derive(Serialize, Deserialize)]
struct Sealed {
    who: Who,
    credential: String,
    csrf: String,
    flash: Vec<Flash>,
}

/// The store could not be reached (Redis or the registry down): the UI answers 503.
#[derive(Debug, thiserror::Error)]
#[error("the session store is unavailable: {0}")]
pub struct SessionError(String);

/// A sealed session and when it expires.
type Stored = (Vec<u8>, DateTime<Utc>);

/// Where sealed sessions are kept.
enum Store {
    Registry(Catalog),
    Redis(Arc<Cache>),
    /// One process only (unit tests).
    #[cfg(test)]
    Memory(Mutex<HashMap<String, Stored>>),
}

pub struct Sessions {
    store: Store,
}

impl Sessions {
    /// Sessions in Redis when there is one, else in the registry.
    pub fn shared(catalog: Catalog, cache: Option<Arc<Cache>>) -> Sessions {
        let store = match cache {
            Some(cache) => Store::Redis(cache),
            None => Store::Registry(catalog),
        };
        Sessions { store }
    }

    #[cfg(test)]
    fn in_memory() -> Sessions {
        Sessions {
            store: Store::Memory(Mutex::new(HashMap::new())),
        }
    }

    /// Starts a session; returns the cookie value. `lifetime` is capped at [`SESSION_TTL`].
    pub async fn start(
        &self,
        who: Who,
        credential: Secret,
        lifetime: Duration,
    ) -> Result<String, SessionError> {
        let unavailable = |e: getrandom::Error| SessionError(e.to_string());
        let id = random().map_err(unavailable)?;
        let sealed = Sealed {
            who,
            credential: credential.expose().to_owned(),
            csrf: random().map_err(unavailable)?,
            flash: Vec::new(),
        };
        let lifetime = chrono::Duration::from_std(lifetime.min(SESSION_TTL)).unwrap_or_default();
        self.put(&id, &sealed, Utc::now() + lifetime).await?;
        Ok(id)
    }

    /// The live session the request's cookie names, with its pending messages taken.
    pub async fn get(&self, headers: &HeaderMap) -> Result<Option<Session>, SessionError> {
        let Some(id) = cookie(headers, COOKIE_NAME) else {
            return Ok(None);
        };
        let Some((mut sealed, expires)) = self.read(id).await? else {
            return Ok(None);
        };
        let flash = std::mem::take(&mut sealed.flash);
        if !flash.is_empty() {
            self.put(id, &sealed, expires).await?;
        }
        Ok(Some(Session {
            who: sealed.who,
            credential: Arc::new(Secret::new(sealed.credential)),
            csrf: sealed.csrf,
            flash,
        }))
    }

    /// A message for this session's next page.
    pub async fn flash(&self, headers: &HeaderMap, flash: Flash) -> Result<(), SessionError> {
        let Some(id) = cookie(headers, COOKIE_NAME) else {
            return Ok(());
        };
        if let Some((mut sealed, expires)) = self.read(id).await? {
            sealed.flash.push(flash);
            self.put(id, &sealed, expires).await?;
        }
        Ok(())
    }

    pub async fn end(&self, headers: &HeaderMap) -> Result<(), SessionError> {
        let Some(id) = cookie(headers, COOKIE_NAME) else {
            return Ok(());
        };
        let key = api_key::hash(id);
        let failed = |e: &dyn std::fmt::Display| SessionError(e.to_string());
        match &self.store {
            Store::Registry(catalog) => catalog
                .delete_ui_session(&key)
                .await
                .map_err(|e| failed(&e)),
            Store::Redis(cache) => {
                let mut conn = cache.conn();
                let deleted: Result<u64, redis::RedisError> = redis::cmd("DEL")
                    .arg(format!("{REDIS_PREFIX}{key}"))
                    .query_async(&mut conn)
                    .await;
                cache.observe(&deleted);
                deleted.map(drop).map_err(|e| failed(&e))
            }
            #[cfg(test)]
            Store::Memory(map) => {
                lock(map).remove(&key);
                Ok(())
            }
        }
    }

    async fn put(
        &self,
        id: &str,
        sealed: &Sealed,
        expires: DateTime<Utc>,
    ) -> Result<(), SessionError> {
        let failed = |e: &dyn std::fmt::Display| SessionError(e.to_string());
        let plain = serde_json::to_vec(sealed).map_err(|e| failed(&e))?;
        let bytes = seal::seal(id, &plain).map_err(|e| failed(&e))?;
        let key = api_key::hash(id);
        match &self.store {
            Store::Registry(catalog) => catalog
                .put_ui_session(&key, &bytes, expires)
                .await
                .map_err(|e| failed(&e)),
            Store::Redis(cache) => {
                let ttl_ms = (expires - Utc::now()).num_milliseconds().max(1);
                let mut conn = cache.conn();
                let stored: Result<(), redis::RedisError> = redis::cmd("SET")
                    .arg(format!("{REDIS_PREFIX}{key}"))
                    .arg(bytes)
                    .arg("PX")
                    .arg(ttl_ms)
                    .query_async(&mut conn)
                    .await;
                cache.observe(&stored);
                stored.map_err(|e| failed(&e))
            }
            #[cfg(test)]
            Store::Memory(map) => {
                lock(map).insert(key, (bytes, expires));
                Ok(())
            }
        }
    }

    /// The session sealed under `id`, if live. Bytes that do not open (forged, or sealed
    /// under another id) are no session.
    async fn read(&self, id: &str) -> Result<Option<(Sealed, DateTime<Utc>)>, SessionError> {
        let failed = |e: &dyn std::fmt::Display| SessionError(e.to_string());
        let key = api_key::hash(id);
        let found: Option<Stored> = match &self.store {
            Store::Registry(catalog) => catalog.ui_session(&key).await.map_err(|e| failed(&e))?,
            Store::Redis(cache) => {
                let mut conn = cache.conn();
                let name = format!("{REDIS_PREFIX}{key}");
                let got: Result<(Option<Vec<u8>>, i64), redis::RedisError> = redis::pipe()
                    .get(&name)
                    .pttl(&name)
                    .query_async(&mut conn)
                    .await;
                cache.observe(&got);
                let (bytes, ttl_ms) = got.map_err(|e| failed(&e))?;
                bytes.map(|b| {
                    (
                        b,
                        Utc::now() + chrono::Duration::milliseconds(ttl_ms.max(1)),
                    )
                })
            }
            #[cfg(test)]
            Store::Memory(map) => lock(map).get(&key).cloned(),
        };
        Ok(found.and_then(|(bytes, expires)| {
            if expires <= Utc::now() {
                return None;
            }
            let plain = seal::open(id, &bytes).ok()?;
            serde_json::from_slice(&plain).ok().map(|s| (s, expires))
        }))
    }
}

#[cfg(test)]
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
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

    async fn get(sessions: &Sessions, headers: &HeaderMap) -> Option<Session> {
        sessions.get(headers).await.ok().flatten()
    }

    #[tokio::test]
    async fn sessions_start_find_flash_and_end() {
        let sessions = Sessions::in_memory();
        let who = Who::Operator { key_id: "k".into() };
        let id = sessions
            .start(who.clone(), Secret::new("tnt_x"), SESSION_TTL)
            .await
            .unwrap_or_default();
        let headers = with_cookie(&format!("other=1; {COOKIE_NAME}={id}"));
        let session = get(&sessions, &headers).await;
        assert_eq!(session.as_ref().map(|s| &s.who), Some(&who));
        assert_eq!(
            session.as_ref().map(|s| s.credential.expose().to_owned()),
            Some("tnt_x".to_owned())
        );
        let csrf = session.map(|s| s.csrf).unwrap_or_default();
        let _ = sessions.flash(&headers, Flash::Notice("hi".into())).await;
        let mut again = get(&sessions, &headers).await.map(|mut s| s.take_flash());
        assert_eq!(again.take(), Some(vec![Flash::Notice("hi".into())]));
        assert_eq!(
            get(&sessions, &headers).await.map(|s| s.flash.len()),
            Some(0)
        );
        let s = get(&sessions, &headers).await;
        assert!(s.as_ref().is_some_and(|s| s.csrf_matches(Some(&csrf))));
        assert!(s.as_ref().is_some_and(|s| !s.csrf_matches(Some("nope"))));
        assert!(s.as_ref().is_some_and(|s| !s.csrf_matches(None)));
        let _ = sessions.end(&headers).await;
        assert!(get(&sessions, &headers).await.is_none());
        let forged = with_cookie(&format!("{COOKIE_NAME}=forged"));
        assert!(get(&sessions, &forged).await.is_none());
    }

    #[tokio::test]
    async fn an_expired_session_is_gone() {
        let sessions = Sessions::in_memory();
        let who = Who::Operator { key_id: "k".into() };
        let id = sessions
            .start(who, Secret::new("tnt_x"), Duration::ZERO)
            .await
            .unwrap_or_default();
        let headers = with_cookie(&format!("{COOKIE_NAME}={id}"));
        assert!(get(&sessions, &headers).await.is_none());
    }

    #[tokio::test]
    async fn the_store_holds_neither_the_id_nor_the_credential() {
        let sessions = Sessions::in_memory();
        let who = Who::Operator { key_id: "k".into() };
        let id = sessions
            .start(who, Secret::new("tnt_secret_credential"), SESSION_TTL)
            .await
            .unwrap_or_default();
        let Store::Memory(map) = &sessions.store else {
            return;
        };
        for (key, (bytes, _)) in lock(map).iter() {
            assert!(!key.contains(&id));
            let text = String::from_utf8_lossy(bytes);
            assert!(!text.contains("tnt_secret_credential") && !text.contains(&id));
        }
    }
}
