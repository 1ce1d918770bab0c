//! The OpenAPI document covers every route, and the browsable page is served.

use reqwest::{Method, StatusCode};

use crate::support::{TestServer, call};

#[tokio::test]
async fn openapi_lists_every_route() {
    let server = TestServer::start();
    let (status, doc) = call(server.anon(Method::GET, "/api/openapi.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    let expected: &[(&str, &[&str])] = &[
        ("/healthz", &["get"]),
        ("/readyz", &["get"]),
        ("/api/v1/tenants", &["get", "post"]),
        ("/api/v1/tenants/{slug}", &["get", "patch", "delete"]),
        ("/api/v1/reconcile", &["post"]),
        ("/api/v1/plans", &["get"]),
        ("/api/v1/plans/{name}", &["get", "put", "delete"]),
        ("/api/v1/agent/enroll", &["post"]),
        ("/api/v1/agent/checkin", &["post"]),
        ("/api/v2/sessiontemplates", &["get", "post"]),
        ("/api/v2/sessiontemplates/{name}", &["get", "put", "delete"]),
        ("/api/v2/sessions", &["get", "post"]),
        ("/api/v2/sessions/{id}", &["get", "delete"]),
        ("/api/v2/components", &["get"]),
        ("/api/v2/components/{id}", &["get", "patch"]),
        ("/api/v2/options", &["get", "patch"]),
        ("/api/v1/tenants/{slug}/domains", &["get", "post"]),
        ("/api/v1/tenants/{slug}/domains/{domain}", &["delete"]),
        ("/api/v1/hosts", &["get", "post"]),
        ("/api/v1/hosts/{id}", &["get", "patch", "delete"]),
        ("/api/v1/media", &["get"]),
        ("/api/v1/media/{name}", &["get", "put", "delete"]),
        ("/api/v1/audit", &["get"]),
        ("/api/v1/instances", &["get"]),
        ("/api/v1/migrations", &["get"]),
        ("/api/v1/keys", &["get", "post"]),
        ("/api/v1/keys/{kid}", &["delete"]),
        ("/api/v1/tenants/{slug}/admin-token", &["post"]),
        ("/api/v1/tenants/{slug}/enrollment-tokens", &["get", "post"]),
        ("/api/v1/tenants/{slug}/enrollment-tokens/{id}", &["delete"]),
    ];
    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    assert_eq!(
        paths.len(),
        expected.len(),
        "undocumented or unexpected paths: {:?}",
        paths.keys().collect::<Vec<_>>()
    );
    for (path, methods) in expected {
        for m in *methods {
            assert!(
                paths.get(*path).and_then(|p| p.get(*m)).is_some(),
                "{m} {path} missing"
            );
        }
    }
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());

    let page = server
        .anon(Method::GET, "/api/docs/")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap_or_default();
    assert!(html.contains("swagger-ui"), "{html}");
}
