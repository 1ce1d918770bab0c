//! The UI is a client of the API, in process: every page reads and every form writes
//! through the same routes, policy, validation and audit as any other client, with the
//! signed-in user's own credential. Nothing here decides what a user may do.

use axum::Router;
use axum::body::Body;
use axum::http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use axum::http::{Method, Request, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tenantry_proto::Problem;
use tower::ServiceExt;

use crate::http::MASQUERADE_HEADER;
use crate::http::request_id;

/// Largest API answer a page reads.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Why an API call did not give the page what it asked for.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// The API refused, with its problem document.
    #[error("{}", .0.detail)]
    Problem(Problem),
    /// The call itself failed (never expected in process).
    #[error("the server could not answer: {0}")]
    Broken(String),
}

impl CallError {
    pub fn status(&self) -> StatusCode {
        match self {
            CallError::Problem(p) => {
                StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
            CallError::Broken(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The message a page shows.
    pub fn message(&self) -> String {
        match self {
            CallError::Problem(p) => p.detail.clone(),
            CallError::Broken(e) => e.clone(),
        }
    }
}

/// The API as one signed-in user calls it.
pub struct Api<'a> {
    pub router: &'a Router,
    pub credential: &'a str,
    /// `Some(slug)`: an operator acting as that tenant (the masquerade header).
    pub as_tenant: Option<&'a str>,
}

impl Api<'_> {
    pub fn acting_as<'b>(&'b self, tenant: &'b str) -> Api<'b> {
        Api {
            router: self.router,
            credential: self.credential,
            as_tenant: Some(tenant),
        }
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, CallError> {
        self.call(Method::GET, path, None::<&()>).await
    }

    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, CallError> {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn patch<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, CallError> {
        self.call(Method::PATCH, path, Some(body)).await
    }

    /// A DELETE; `T` is `serde_json::Value` for routes that answer 204.
    pub async fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T, CallError> {
        self.call(Method::DELETE, path, None::<&()>).await
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, CallError> {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(AUTHORIZATION, format!("Bearer {}", self.credential))
            .header(ACCEPT, "application/json");
        // The page's request id, so the API's audit events and logs name the same request.
        if let Some(id) = request_id::current() {
            req = req
                .header(request_id::HEADER, &id)
                .extension(request_id::RequestId(id));
        }
        if let Some(tenant) = self.as_tenant {
            req = req.header(MASQUERADE_HEADER, tenant);
        }
        let body = match body {
            Some(b) => {
                req = req.header(CONTENT_TYPE, "application/json");
                Body::from(serde_json::to_vec(b).map_err(|e| CallError::Broken(e.to_string()))?)
            }
            None => Body::empty(),
        };
        let req = req
            .body(body)
            .map_err(|e| CallError::Broken(e.to_string()))?;
        let response = self
            .router
            .clone()
            .oneshot(req)
            .await
            .map_err(|e| CallError::Broken(e.to_string()))?;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), MAX_BODY)
            .await
            .map_err(|e| CallError::Broken(e.to_string()))?;
        if !status.is_success() {
            return Err(match serde_json::from_slice::<Problem>(&bytes) {
                Ok(problem) => CallError::Problem(problem),
                Err(_) => CallError::Broken(format!("status {status}")),
            });
        }
        let bytes = if bytes.is_empty() {
            &b"null"[..]
        } else {
            &bytes[..]
        };
        serde_json::from_slice(bytes).map_err(|e| CallError::Broken(e.to_string()))
    }
}
