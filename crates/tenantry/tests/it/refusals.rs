//! Requests that could only be answered by guessing are refused: duplicate or unreadable
//! headers that name a tenant or a credential, tenant principals of a suspended tenant, and
//! writes that race a tenant's deletion.

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::json;

use tenantry_proto::{Domain, EnrollmentToken, Page};

use crate::identity::{token, trusted_keypair};
use crate::on_every_backend;
use crate::support::{Mode, TestServer, answer, call, expect_problem};

on_every_backend!(
    duplicate_and_unreadable_headers_are_refused,
    a_suspended_tenants_principals_reach_nothing,
    writes_racing_a_delete_never_fail_or_outlive_the_purge
);

async fn duplicate_and_unreadable_headers_are_refused(mode: Mode) {
    let server = TestServer::start_on(mode);
    server.create_tenant("acme").await;
    server.create_tenant("beta").await;
    server.create_host("acme", "acme-host").await;
    let hosts = "/api/v1/hosts";
    for (name, first, second) in [
        ("X-Tenantry-Tenant", "acme", "beta"),
        ("X-Tenantry-Tenant", "acme", "acme"),
        ("Host", "acme.tenants.test", "beta.tenants.test"),
    ] {
        let p = expect_problem(
            server
                .op(Method::GET, hosts)
                .header(name, first)
                .header(name, second),
            StatusCode::BAD_REQUEST,
            "ambiguous_header",
        )
        .await;
        assert!(!p.to_string().contains("acme-host"), "{p}");
    }
    expect_problem(
        server
            .op(Method::POST, hosts)
            .bearer_auth("tnt_second")
            .header("X-Tenantry-Tenant", "acme")
            .json(&json!({ "hostname": "twice" })),
        StatusCode::BAD_REQUEST,
        "ambiguous_header",
    )
    .await;
    expect_problem(
        server.op(Method::GET, hosts).header(
            "X-Tenantry-Tenant",
            reqwest::header::HeaderValue::from_bytes(b"acme\xff").unwrap_or_else(|e| panic!("{e}")),
        ),
        StatusCode::BAD_REQUEST,
        "invalid_header",
    )
    .await;
    assert_eq!(server.hostnames("acme").await, ["acme-host"]);
    assert!(server.hostnames("beta").await.is_empty());
}

async fn a_suspended_tenants_principals_reach_nothing(mode: Mode) {
    let server = TestServer::start_on(mode);
    server.create_tenant("acme").await;
    let keys = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
    trusted_keypair(&server, keys.path(), "k.pem", &[]);
    let admin = token(keys.path(), "k.pem", "acme", "admin", &[]);
    let member = token(keys.path(), "k.pem", "acme", "member", &[]);
    let (_, token_id) = server.enrollment_token("acme").await;
    let (status, body) = call(
        server
            .op(Method::PATCH, "/api/v1/tenants/acme")
            .json(&json!({ "status": "suspended" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let tokens = "/api/v1/tenants/acme/enrollment-tokens";
    for (who, method, path, body) in [
        (&admin, Method::GET, tokens.to_owned(), None),
        (&member, Method::GET, tokens.to_owned(), None),
        (&admin, Method::POST, tokens.to_owned(), Some(json!({}))),
        (&admin, Method::DELETE, format!("{tokens}/{token_id}"), None),
        (
            &admin,
            Method::GET,
            "/api/v1/tenants/acme/domains".to_owned(),
            None,
        ),
        (
            &member,
            Method::GET,
            "/api/v1/tenants/acme/domains".to_owned(),
            None,
        ),
        (&admin, Method::GET, "/api/v1/hosts".to_owned(), None),
        (&admin, Method::GET, "/api/v2/sessions".to_owned(), None),
    ] {
        let mut req = server.anon(method.clone(), &path).bearer_auth(who);
        if let Some(body) = body {
            req = req.json(&body);
        }
        expect_problem(req, StatusCode::FORBIDDEN, "tenant_suspended").await;
    }
    // The operator still manages it, and nothing the admin tried changed anything.
    let list: Page<EnrollmentToken> = answer(server.op(Method::GET, tokens), StatusCode::OK).await;
    assert_eq!(list.items.len(), 1, "{list:?}");
    assert!(!list.items[0].revoked, "{list:?}");
    let (status, body) = call(server.op(Method::POST, tokens).json(&json!({}))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// Writes of every registry kind and of tenant data while the tenant is deleted: each
/// answers with a code of its own, never a 5xx, and nothing written outlives the purge.
async fn writes_racing_a_delete_never_fail_or_outlive_the_purge(mode: Mode) {
    let server = Arc::new(TestServer::start_on(mode));
    let keys = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
    trusted_keypair(&server, keys.path(), "k.pem", &[]);
    let public = std::fs::read_to_string(keys.path().join("k.pem")).unwrap_or_default();
    for round in 0..3 {
        server.create_tenant("doomed").await;
        let (stop, done) = tokio::sync::watch::channel(false);
        let mut writers = Vec::new();
        for w in 0..4 {
            let (server, done, public) = (Arc::clone(&server), done.clone(), public.clone());
            writers.push(tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut i = 0;
                while !*done.borrow() {
                    i += 1;
                    let req = match (w + i) % 4 {
                        0 => server
                            .op(Method::POST, "/api/v1/tenants/doomed/enrollment-tokens")
                            .json(&json!({})),
                        1 => server
                            .op(Method::POST, "/api/v1/tenants/doomed/domains")
                            .json(&json!({ "domain": format!("d{w}-{i}.doomed.example") })),
                        2 => server
                            .op(Method::POST, "/api/v1/keys")
                            .json(&json!({ "public_key": public, "tenant": "doomed" })),
                        _ => server
                            .as_tenant("doomed", Method::POST, "/api/v1/hosts")
                            .json(&json!({ "hostname": format!("h{w}-{i}") })),
                    };
                    let (status, body) = call(req).await;
                    seen.push((status, body));
                }
                seen
            }));
        }
        let (status, body) = call(server.op(Method::DELETE, "/api/v1/tenants/doomed")).await;
        assert_eq!(status, StatusCode::OK, "round {round}: {body}");
        let _ = stop.send(true);
        for writer in writers {
            for (status, body) in writer.await.unwrap_or_else(|e| panic!("{e}")) {
                if status.is_server_error() {
                    let id = body["request_id"].as_str().unwrap_or("?").to_owned();
                    let log = server.log_for(&id);
                    panic!(
                        "round {round}: a write racing the delete got {status}: {body}\n{log:#?}"
                    );
                }
            }
        }
        // Nothing written for the old tenant is there for the new one.
        server.create_tenant("doomed").await;
        let domains: Page<Domain> = answer(
            server.op(Method::GET, "/api/v1/tenants/doomed/domains"),
            StatusCode::OK,
        )
        .await;
        assert!(domains.items.is_empty(), "round {round}: {domains:?}");
        let tokens: Page<EnrollmentToken> = answer(
            server.op(Method::GET, "/api/v1/tenants/doomed/enrollment-tokens"),
            StatusCode::OK,
        )
        .await;
        assert!(tokens.items.is_empty(), "round {round}: {tokens:?}");
        let (_, keys) = call(server.op(Method::GET, "/api/v1/keys")).await;
        assert!(
            !keys.to_string().contains("doomed"),
            "round {round}: {keys}"
        );
        assert!(server.hostnames("doomed").await.is_empty(), "round {round}");
        let (status, body) = call(server.op(Method::DELETE, "/api/v1/tenants/doomed")).await;
        assert_eq!(status, StatusCode::OK, "round {round}: {body}");
    }
}
