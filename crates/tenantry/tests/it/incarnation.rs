//! Credentials are bound to one tenant incarnation: every kind of credential issued to a
//! tenant that was then deleted is refused by the new tenant of the same slug.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::identity::{token, trusted_keypair};
use crate::on_every_backend;
use crate::support::{Mode, TestServer, call, expect_problem};
use crate::ui::Visitor;

on_every_backend!(credentials_of_a_deleted_tenant_never_reach_its_successor);

/// Everything a tenant's people and machines hold.
struct Held {
    recovery: String,
    global: String,
    restricted: String,
    enrollment: String,
    host: String,
}

async fn issue_everything(
    server: &TestServer,
    keys: &std::path::Path,
    slug: &str,
    generation: &str,
) -> Held {
    let recovery = server.admin_token(slug).await;
    let restricted_key = format!("{slug}-{generation}.pem");
    trusted_keypair(server, keys, &restricted_key, &["--tenant", slug]);
    let (enrollment, _) = server.enrollment_token(slug).await;
    let enrolled = server.enroll(&enrollment, "machine-one", "one").await;
    Held {
        recovery,
        global: token(keys, "global.pem", slug, "admin", &[]),
        restricted: token(keys, &restricted_key, slug, "admin", &[]),
        enrollment,
        host: enrolled.credential,
    }
}

async fn hosts_with(server: &TestServer, bearer: &str) -> (StatusCode, serde_json::Value) {
    call(
        server
            .anon(Method::GET, "/api/v1/hosts")
            .bearer_auth(bearer),
    )
    .await
}

async fn credentials_of_a_deleted_tenant_never_reach_its_successor(mode: Mode) {
    let server = TestServer::start_on(mode);
    let keys = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
    trusted_keypair(&server, keys.path(), "global.pem", &[]);
    server.create_tenant("acme").await;
    let old = issue_everything(&server, keys.path(), "acme", "old").await;
    // Every credential works for the tenant it was issued to.
    for bearer in [&old.recovery, &old.global, &old.restricted] {
        let (status, body) = hosts_with(&server, bearer).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, body) = call(
        server
            .anon(Method::POST, "/api/v1/agent/checkin")
            .bearer_auth(&old.host)
            .json(&json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut ui = Visitor::new(&server);
    assert_eq!(
        ui.sign_in(&old.recovery).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(ui.get("/ui/tenant").await.status, StatusCode::OK);

    let (status, body) = call(server.op(Method::DELETE, "/api/v1/tenants/acme")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    server.create_tenant("acme").await;
    server.create_host("acme", "new-secret-host").await;

    // Tokens without a tenant id are told apart by `iat`; the server's own by the id.
    for bearer in [&old.recovery, &old.global] {
        let problem = expect_problem(
            server
                .anon(Method::GET, "/api/v1/hosts")
                .bearer_auth(bearer),
            StatusCode::UNAUTHORIZED,
            "token_tenant_replaced",
        )
        .await;
        assert!(!problem.to_string().contains("new-secret-host"));
        expect_problem(
            server
                .anon(Method::POST, "/api/v1/hosts")
                .bearer_auth(bearer)
                .json(&json!({ "hostname": "planted" })),
            StatusCode::UNAUTHORIZED,
            "token_tenant_replaced",
        )
        .await;
        expect_problem(
            server
                .anon(Method::GET, "/api/v1/tenants/acme/enrollment-tokens")
                .bearer_auth(bearer),
            StatusCode::UNAUTHORIZED,
            "token_tenant_replaced",
        )
        .await;
    }
    // The restricted key went with the tenant.
    expect_problem(
        server
            .anon(Method::GET, "/api/v1/hosts")
            .bearer_auth(&old.restricted),
        StatusCode::UNAUTHORIZED,
        "token_unknown_key",
    )
    .await;
    // Enrollment tokens and host credentials went with it too.
    expect_problem(
        server
            .anon(Method::POST, "/api/v1/agent/enroll")
            .bearer_auth(&old.enrollment)
            .json(&json!({ "machine_id": "machine-two", "facts": { "hostname": "two" } })),
        StatusCode::FORBIDDEN,
        "invalid_enrollment_token",
    )
    .await;
    expect_problem(
        server
            .anon(Method::POST, "/api/v1/agent/checkin")
            .bearer_auth(&old.host)
            .json(&json!({})),
        StatusCode::UNAUTHORIZED,
        "token_tenant_replaced",
    )
    .await;
    // The UI session signed in before the delete is over.
    let page = ui.get("/ui/tenant").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(!page.body.contains("new-secret-host"));
    assert_eq!(ui.get("/ui/tenant").await.status, StatusCode::SEE_OTHER);

    // Nothing of the above reached the new tenant.
    assert_eq!(server.hostnames("acme").await, vec!["new-secret-host"]);
    // The new tenant's own credentials work.
    let new = issue_everything(&server, keys.path(), "acme", "new").await;
    for bearer in [&new.recovery, &new.global, &new.restricted] {
        let (status, body) = hosts_with(&server, bearer).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}
