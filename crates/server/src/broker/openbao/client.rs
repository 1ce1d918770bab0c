//! A small OpenBAO HTTP client: the handful of endpoints Tenantry uses, nothing more.
//!
//! Every call is counted (`calls()`), so tests can prove the request path makes none.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use std::path::Path;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::secret::Secret;

pub use super::error::BaoError;

/// How the client logs in.
#[derive(Clone)]
pub enum BaoAuth {
    Token(Secret),
    AppRole { role_id: String, secret_id: Secret },
}

/// A dynamic database credential.
#[derive(Clone)]
pub struct DbLease {
    pub lease_id: String,
    pub duration: Duration,
    pub renewable: bool,
    pub username: String,
    pub password: Secret,
}

impl std::fmt::Debug for DbLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbLease")
            .field("lease_id", &self.lease_id)
            .field("duration", &self.duration)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The client's own token, as OpenBAO describes it.
#[derive(Debug, Clone, Copy)]
pub struct TokenInfo {
    /// `None` for tokens that never expire (a dev root token).
    pub ttl: Option<Duration>,
    pub renewable: bool,
}

pub struct BaoClient {
    http: reqwest::Client,
    base: String,
    auth: BaoAuth,
    token: std::sync::RwLock<Secret>,
    calls: Arc<AtomicU64>,
}

impl std::fmt::Debug for BaoClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BaoClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    data: Option<Value>,
    #[serde(default)]
    auth: Option<AuthBlock>,
    #[serde(default)]
    lease_id: String,
    #[serde(default)]
    lease_duration: u64,
    #[serde(default)]
    renewable: bool,
}

#[derive(Deserialize)]
struct AuthBlock {
    client_token: String,
    #[serde(default)]
    lease_duration: u64,
    #[serde(default)]
    renewable: bool,
}

impl BaoClient {
    /// A client that has not logged in yet (see [`Self::login`]).
    /// Over `https://`, OpenBAO's certificate is verified against the system's roots plus
    /// `ca_file`, hostname included.
    pub fn new(url: &str, auth: BaoAuth, ca_file: Option<&Path>) -> Result<BaoClient, BaoError> {
        let setup = |e: &dyn std::fmt::Display| BaoError::Setup(e.to_string());
        let extra = match ca_file {
            Some(path) => tenantry_client::tls::read_ca_file(path).map_err(|e| setup(&e))?,
            None => Vec::new(),
        };
        let tls = tenantry_client::tls::client_config(&extra).map_err(|e| setup(&e))?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(3))
            .build()
            .map_err(|e| setup(&e))?;
        let token = match &auth {
            BaoAuth::Token(t) => t.clone(),
            BaoAuth::AppRole { .. } => Secret::new(""),
        };
        Ok(BaoClient {
            http,
            base: url.trim_end_matches('/').to_owned(),
            auth,
            token: std::sync::RwLock::new(token),
            calls: Arc::new(AtomicU64::new(0)),
        })
    }

    /// How many HTTP calls this client has made.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    fn token(&self) -> Secret {
        self.token.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        with_token: bool,
    ) -> Result<Option<Envelope>, BaoError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let mut request = self
            .http
            .request(method, format!("{}/v1/{path}", self.base));
        if with_token {
            request = request.header("X-Vault-Token", self.token().expose());
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| BaoError::Unreachable(tenantry_client::causes(&e.without_url())))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| BaoError::Unreachable(tenantry_client::causes(&e.without_url())))?;
        if status == StatusCode::NOT_FOUND {
            // A 404 with errors on a LIST or read means "nothing there"; with a body of
            // warnings it can still carry data, but none of our endpoints do that.
            return Err(BaoError::NotFound(path.to_owned()));
        }
        if !status.is_success() {
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| {
                    v.get("errors").and_then(|e| e.as_array()).map(|errors| {
                        errors
                            .iter()
                            .filter_map(|e| e.as_str())
                            .collect::<Vec<_>>()
                            .join("; ")
                    })
                })
                .unwrap_or_default();
            return Err(BaoError::Refused {
                path: path.to_owned(),
                status: status.as_u16(),
                message,
            });
        }
        if text.trim().is_empty() {
            return Ok(None);
        }
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| BaoError::Unexpected {
                path: path.to_owned(),
                message: e.to_string(),
            })
    }

    /// A call with the client's token; on "permission denied" under AppRole (an expired
    /// token) logs in again once and retries.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Option<Envelope>, BaoError> {
        match self.send(method.clone(), path, body, true).await {
            Err(e) if e.is_permission_denied() && matches!(self.auth, BaoAuth::AppRole { .. }) => {
                self.login().await?;
                self.send(method, path, body, true).await
            }
            other => other,
        }
    }

    fn data(path: &str, envelope: Option<Envelope>) -> Result<Value, BaoError> {
        envelope
            .and_then(|e| e.data)
            .ok_or_else(|| BaoError::Unexpected {
                path: path.to_owned(),
                message: "no data".into(),
            })
    }

    fn auth(path: &str, envelope: Option<Envelope>) -> Result<AuthBlock, BaoError> {
        envelope
            .and_then(|e| e.auth)
            .ok_or_else(|| BaoError::Unexpected {
                path: path.to_owned(),
                message: "no auth block".into(),
            })
    }

    /// Logs in (AppRole) and keeps the token; with a plain token, checks it.
    pub async fn login(&self) -> Result<TokenInfo, BaoError> {
        match &self.auth {
            BaoAuth::Token(_) => self.lookup_self().await,
            BaoAuth::AppRole { role_id, secret_id } => {
                let body = json!({ "role_id": role_id, "secret_id": secret_id.expose() });
                let path = "auth/approle/login";
                let auth = Self::auth(
                    path,
                    self.send(Method::POST, path, Some(&body), false).await?,
                )?;
                *self.token.write().unwrap_or_else(|p| p.into_inner()) =
                    Secret::new(auth.client_token);
                Ok(TokenInfo {
                    ttl: (auth.lease_duration > 0)
                        .then(|| Duration::from_secs(auth.lease_duration)),
                    renewable: auth.renewable,
                })
            }
        }
    }

    pub async fn lookup_self(&self) -> Result<TokenInfo, BaoError> {
        let path = "auth/token/lookup-self";
        let data = Self::data(path, self.send(Method::GET, path, None, true).await?)?;
        let ttl = data.get("ttl").and_then(Value::as_u64).unwrap_or(0);
        Ok(TokenInfo {
            ttl: (ttl > 0).then(|| Duration::from_secs(ttl)),
            renewable: data
                .get("renewable")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
    }

    /// Renews the client's own token; returns its new TTL.
    pub async fn renew_self(&self) -> Result<Duration, BaoError> {
        let path = "auth/token/renew-self";
        let auth = Self::auth(path, self.call(Method::POST, path, Some(&json!({}))).await?)?;
        Ok(Duration::from_secs(auth.lease_duration))
    }

    /// `sys/health`: unsealed and active answers 200.
    pub async fn health(&self) -> Result<(), BaoError> {
        self.send(Method::GET, "sys/health", None, false)
            .await
            .map(|_| ())
    }

    /// Enables a secrets engine at `path` unless something is mounted there already.
    pub async fn enable_secrets(
        &self,
        path: &str,
        kind: &str,
        options: Value,
    ) -> Result<bool, BaoError> {
        let mounts = Self::data(
            "sys/mounts",
            self.call(Method::GET, "sys/mounts", None).await?,
        )?;
        if mounts.get(format!("{path}/")).is_some() {
            return Ok(false);
        }
        let body = json!({ "type": kind, "options": options });
        self.call(Method::POST, &format!("sys/mounts/{path}"), Some(&body))
            .await?;
        Ok(true)
    }

    /// Enables an auth method at `path` unless it is enabled already.
    pub async fn enable_auth(&self, path: &str, kind: &str) -> Result<bool, BaoError> {
        let auths = Self::data("sys/auth", self.call(Method::GET, "sys/auth", None).await?)?;
        if auths.get(format!("{path}/")).is_some() {
            return Ok(false);
        }
        self.call(
            Method::POST,
            &format!("sys/auth/{path}"),
            Some(&json!({ "type": kind })),
        )
        .await?;
        Ok(true)
    }

    /// Reads a path's `data` (a config, a role, a policy…); `None` when absent.
    pub async fn read(&self, path: &str) -> Result<Option<Value>, BaoError> {
        match self.call(Method::GET, path, None).await {
            Ok(envelope) => Ok(envelope.and_then(|e| e.data)),
            Err(BaoError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes a path; returns the answer's `data` if there is one.
    pub async fn write(&self, path: &str, body: &Value) -> Result<Option<Value>, BaoError> {
        Ok(self
            .call(Method::POST, path, Some(body))
            .await?
            .and_then(|e| e.data))
    }

    /// Deletes a path; absent is fine.
    pub async fn delete(&self, path: &str) -> Result<(), BaoError> {
        match self.call(Method::DELETE, path, None).await {
            Ok(_) | Err(BaoError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `LIST path`: the keys below it (empty when there are none).
    pub async fn list(&self, path: &str) -> Result<Vec<String>, BaoError> {
        let list = Method::from_bytes(b"LIST").map_err(|e| BaoError::Unexpected {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        match self.call(list, path, None).await {
            Ok(envelope) => Ok(envelope
                .and_then(|e| e.data)
                .and_then(|d| d.get("keys").cloned())
                .and_then(|k| serde_json::from_value(k).ok())
                .unwrap_or_default()),
            Err(BaoError::NotFound(_)) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// A fresh credential from a database role: `<mount>/creds/<role>`.
    pub async fn db_creds(&self, mount: &str, role: &str) -> Result<DbLease, BaoError> {
        let path = format!("{mount}/creds/{role}");
        let envelope =
            self.call(Method::GET, &path, None)
                .await?
                .ok_or_else(|| BaoError::Unexpected {
                    path: path.clone(),
                    message: "empty answer".into(),
                })?;
        let field = |data: &Value, name: &str| {
            data.get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| BaoError::Unexpected {
                    path: path.clone(),
                    message: format!("no {name}"),
                })
        };
        let data = envelope.data.clone().unwrap_or(Value::Null);
        Ok(DbLease {
            lease_id: envelope.lease_id,
            duration: Duration::from_secs(envelope.lease_duration),
            renewable: envelope.renewable,
            username: field(&data, "username")?,
            password: Secret::new(field(&data, "password")?),
        })
    }

    /// Renews a lease by `increment`; returns the duration OpenBAO granted (shorter than
    /// asked once the lease nears its maximum TTL).
    pub async fn renew_lease(
        &self,
        lease_id: &str,
        increment: Duration,
    ) -> Result<Duration, BaoError> {
        let body = json!({ "lease_id": lease_id, "increment": increment.as_secs() });
        let envelope = self
            .call(Method::PUT, "sys/leases/renew", Some(&body))
            .await?;
        Ok(Duration::from_secs(
            envelope.map(|e| e.lease_duration).unwrap_or(0),
        ))
    }

    pub async fn revoke_lease(&self, lease_id: &str) -> Result<(), BaoError> {
        let body = json!({ "lease_id": lease_id });
        self.call(Method::PUT, "sys/leases/revoke", Some(&body))
            .await
            .map(|_| ())
    }

    /// Revokes every lease under `prefix` (e.g. `database/creds/tenant-acme`).
    pub async fn revoke_prefix(&self, prefix: &str) -> Result<(), BaoError> {
        self.call(
            Method::PUT,
            &format!("sys/leases/revoke-prefix/{prefix}"),
            Some(&json!({})),
        )
        .await
        .map(|_| ())
    }

    /// The lease ids under `prefix` (a role's creds path).
    pub async fn leases(&self, prefix: &str) -> Result<Vec<String>, BaoError> {
        self.list(&format!("sys/leases/lookup/{prefix}/")).await
    }

    /// Reads a KV v2 secret's data; `None` when absent.
    pub async fn kv_read(&self, mount: &str, path: &str) -> Result<Option<Value>, BaoError> {
        Ok(self
            .read(&format!("{mount}/data/{path}"))
            .await?
            .and_then(|d| d.get("data").cloned())
            .filter(|d| !d.is_null()))
    }

    pub async fn kv_write(&self, mount: &str, path: &str, data: &Value) -> Result<(), BaoError> {
        self.write(&format!("{mount}/data/{path}"), &json!({ "data": data }))
            .await
            .map(|_| ())
    }

    pub async fn policy_read(&self, name: &str) -> Result<Option<String>, BaoError> {
        Ok(self
            .read(&format!("sys/policies/acl/{name}"))
            .await?
            .and_then(|d| d.get("policy").and_then(Value::as_str).map(str::to_owned)))
    }

    pub async fn policy_write(&self, name: &str, policy: &str) -> Result<(), BaoError> {
        self.call(
            Method::PUT,
            &format!("sys/policies/acl/{name}"),
            Some(&json!({ "policy": policy })),
        )
        .await
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_secrets() {
        let lease = DbLease {
            lease_id: "database/creds/tenant-a/x".into(),
            duration: Duration::from_secs(60),
            renewable: true,
            username: "v-a".into(),
            password: Secret::new("hunter2"),
        };
        assert!(!format!("{lease:?}").contains("hunter2"));
    }
}
