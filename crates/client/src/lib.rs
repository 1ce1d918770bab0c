//! A small client for the Tenantry HTTP API, shared by the CLI and the tests.

pub mod tls;

use reqwest::{Method, RequestBuilder, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tenantry_proto::{
    AddKey, AdminTokenRequest, CheckinRequest, CheckinResponse, CreateDomain,
    CreateEnrollmentToken, CreateTenant, Domain, EnrollRequest, EnrollResponse, EnrollmentToken,
    Instance, IssuedEnrollmentToken, IssuedToken, Page, Plan, Problem, PurgeReport, PutPlan,
    ReconcileReport, Tenant, TrustedKey, UpdateTenant,
};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with a problem document.
    #[error("{0}")]
    Api(Problem),
    #[error("cannot reach the server at {url}: {}", causes(source))]
    Unreachable { url: String, source: reqwest::Error },
    /// The TLS handshake failed: a certificate one side would not accept (an unknown CA, a
    /// name mismatch, an expired certificate, another pinned fingerprint, no client
    /// certificate). Not an outage: it fails the same way until a certificate or the
    /// configuration changes.
    #[error("TLS with the server at {url} failed: {}", causes(source))]
    Tls { url: String, source: reqwest::Error },
    #[error("unexpected answer from the server ({status}): {body}")]
    Unexpected { status: StatusCode, body: String },
}

/// An error and its causes on one line: "error sending request" alone does not say that
/// the certificate was refused, or why.
pub fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut line = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        next = cause.source();
    }
    line
}

impl ClientError {
    /// A request that got no answer: a refused handshake, or a server out of reach.
    fn sending(url: &str, source: reqwest::Error) -> ClientError {
        let url = url.to_owned();
        if tls::is_handshake_refusal(&source) {
            ClientError::Tls { url, source }
        } else {
            ClientError::Unreachable { url, source }
        }
    }

    /// The problem's stable code, when the server sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api(p) => Some(&p.code),
            _ => None,
        }
    }
}

#[derive(Clone)]
pub struct Client {
    base: String,
    api_key: Option<String>,
    http: reqwest::Client,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("api_key", &"[redacted]")
            .finish()
    }
}

impl Client {
    /// A client of the server at `base` (`http://` or `https://`), trusting the system's
    /// roots plus `ca_file` for HTTPS.
    pub fn new(
        base: impl Into<String>,
        api_key: Option<String>,
        ca_file: Option<&std::path::Path>,
    ) -> Result<Self, tls::TlsSetupError> {
        Ok(Client {
            base: base.into().trim_end_matches('/').to_owned(),
            api_key,
            http: tls::http_client(ca_file)?,
        })
    }

    /// A client of the server at `base` over an HTTP client set up elsewhere (a pinned CA).
    pub fn with_http(
        base: impl Into<String>,
        api_key: Option<String>,
        http: reqwest::Client,
    ) -> Self {
        Client {
            base: base.into().trim_end_matches('/').to_owned(),
            api_key,
            http,
        }
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let req = self.http.request(method, format!("{}{path}", self.base));
        match &self.api_key {
            Some(key) => req.bearer_auth(key),
            None => req,
        }
    }

    async fn send<T: DeserializeOwned>(&self, req: RequestBuilder) -> Result<T, ClientError> {
        let response = req
            .send()
            .await
            .map_err(|source| ClientError::sending(&self.base, source))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|source| ClientError::Unreachable {
                url: self.base.clone(),
                source,
            })?;
        if status.is_success() {
            let bytes: &[u8] = if body.is_empty() { b"null" } else { &body };
            return serde_json::from_slice(bytes).map_err(|_| ClientError::Unexpected {
                status,
                body: String::from_utf8_lossy(&body).into_owned(),
            });
        }
        match serde_json::from_slice::<Problem>(&body) {
            Ok(problem) => Err(ClientError::Api(problem)),
            Err(_) => Err(ClientError::Unexpected {
                status,
                body: String::from_utf8_lossy(&body).into_owned(),
            }),
        }
    }

    async fn json<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        self.send(self.request(method, path).json(body)).await
    }

    pub async fn create_tenant(&self, request: &CreateTenant) -> Result<Tenant, ClientError> {
        self.json(Method::POST, "/api/v1/tenants", request).await
    }

    pub async fn add_key(&self, request: &AddKey) -> Result<TrustedKey, ClientError> {
        self.json(Method::POST, "/api/v1/keys", request).await
    }

    pub async fn list_keys(&self) -> Result<Vec<TrustedKey>, ClientError> {
        self.send(self.request(Method::GET, "/api/v1/keys")).await
    }

    pub async fn remove_key(&self, kid: &str) -> Result<(), ClientError> {
        let _: Option<serde_json::Value> = self
            .send(self.request(Method::DELETE, &format!("/api/v1/keys/{kid}")))
            .await?;
        Ok(())
    }

    pub async fn admin_token(
        &self,
        slug: &str,
        ttl: Option<&str>,
    ) -> Result<IssuedToken, ClientError> {
        let body = AdminTokenRequest {
            ttl: ttl.map(str::to_owned),
        };
        self.json(
            Method::POST,
            &format!("/api/v1/tenants/{slug}/admin-token"),
            &body,
        )
        .await
    }

    pub async fn create_enrollment_token(
        &self,
        slug: &str,
        request: &CreateEnrollmentToken,
    ) -> Result<IssuedEnrollmentToken, ClientError> {
        self.json(
            Method::POST,
            &format!("/api/v1/tenants/{slug}/enrollment-tokens"),
            request,
        )
        .await
    }

    pub async fn list_enrollment_tokens(
        &self,
        slug: &str,
    ) -> Result<Vec<EnrollmentToken>, ClientError> {
        let page: Page<EnrollmentToken> = self
            .send(self.request(
                Method::GET,
                &format!("/api/v1/tenants/{slug}/enrollment-tokens"),
            ))
            .await?;
        Ok(page.items)
    }

    pub async fn revoke_enrollment_token(
        &self,
        slug: &str,
        id: &str,
    ) -> Result<EnrollmentToken, ClientError> {
        self.send(self.request(
            Method::DELETE,
            &format!("/api/v1/tenants/{slug}/enrollment-tokens/{id}"),
        ))
        .await
    }

    pub async fn list_plans(&self) -> Result<Vec<Plan>, ClientError> {
        self.send(self.request(Method::GET, "/api/v1/plans")).await
    }

    pub async fn put_plan(&self, name: &str, plan: &PutPlan) -> Result<Plan, ClientError> {
        self.json(Method::PUT, &format!("/api/v1/plans/{name}"), plan)
            .await
    }

    pub async fn remove_plan(&self, name: &str) -> Result<(), ClientError> {
        let _: Option<serde_json::Value> = self
            .send(self.request(Method::DELETE, &format!("/api/v1/plans/{name}")))
            .await?;
        Ok(())
    }

    pub async fn list_instances(&self) -> Result<Vec<Instance>, ClientError> {
        self.send(self.request(Method::GET, "/api/v1/instances"))
            .await
    }

    /// Every tenant, following cursors.
    pub async fn list_tenants(&self) -> Result<Vec<Tenant>, ClientError> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut req = self
                .request(Method::GET, "/api/v1/tenants")
                .query(&[("limit", "500")]);
            if let Some(c) = &cursor {
                req = req.query(&[("cursor", c)]);
            }
            let page: Page<Tenant> = self.send(req).await?;
            all.extend(page.items);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(all),
            }
        }
    }

    pub async fn tenant(&self, slug: &str) -> Result<Tenant, ClientError> {
        self.send(self.request(Method::GET, &format!("/api/v1/tenants/{slug}")))
            .await
    }

    pub async fn update_tenant(
        &self,
        slug: &str,
        update: &UpdateTenant,
    ) -> Result<Tenant, ClientError> {
        self.json(Method::PATCH, &format!("/api/v1/tenants/{slug}"), update)
            .await
    }

    pub async fn delete_tenant(&self, slug: &str) -> Result<PurgeReport, ClientError> {
        self.send(self.request(Method::DELETE, &format!("/api/v1/tenants/{slug}")))
            .await
    }

    /// Agents: enroll with the enrollment token this client was made with.
    pub async fn enroll(&self, request: &EnrollRequest) -> Result<EnrollResponse, ClientError> {
        self.json(Method::POST, "/api/v1/agent/enroll", request)
            .await
    }

    /// Agents: check in with the host credential this client was made with.
    pub async fn checkin(&self, request: &CheckinRequest) -> Result<CheckinResponse, ClientError> {
        self.json(Method::POST, "/api/v1/agent/checkin", request)
            .await
    }

    /// Finishes interrupted tenant creations and deletions.
    pub async fn reconcile(&self) -> Result<ReconcileReport, ClientError> {
        self.send(self.request(Method::POST, "/api/v1/reconcile"))
            .await
    }

    pub async fn add_domain(&self, slug: &str, domain: &str) -> Result<Domain, ClientError> {
        let body = CreateDomain {
            domain: domain.to_owned(),
        };
        self.json(
            Method::POST,
            &format!("/api/v1/tenants/{slug}/domains"),
            &body,
        )
        .await
    }

    pub async fn list_domains(&self, slug: &str) -> Result<Vec<Domain>, ClientError> {
        let page: Page<Domain> = self
            .send(self.request(Method::GET, &format!("/api/v1/tenants/{slug}/domains")))
            .await?;
        Ok(page.items)
    }

    pub async fn remove_domain(&self, slug: &str, domain: &str) -> Result<(), ClientError> {
        let _: Option<serde_json::Value> = self
            .send(self.request(
                Method::DELETE,
                &format!("/api/v1/tenants/{slug}/domains/{domain}"),
            ))
            .await?;
        Ok(())
    }
}
