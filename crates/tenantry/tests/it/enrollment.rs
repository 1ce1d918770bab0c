//! Enrollment tokens: issued once, stored only as a hash, listed without secrets, revocable,
//! purged with their tenant.

use reqwest::{Method, StatusCode};
use serde_json::json;

use tenantry_proto::{EnrollmentToken, IssuedEnrollmentToken, Page};

use crate::identity::{token, trusted_keypair};
use crate::support::{TestServer, answer, call, expect_problem, run, text};

#[tokio::test]
async fn enrollment_tokens_lifecycle() {
    let server = TestServer::start();
    server.create_tenant("acme").await;
    server.create_tenant("beta").await;

    let issued: IssuedEnrollmentToken = answer(
        server
            .op(Method::POST, "/api/v1/tenants/acme/enrollment-tokens")
            .json(&json!({ "ttl": "2h", "max_uses": 3, "labels": { "rack": "r1" } })),
        StatusCode::CREATED,
    )
    .await;
    let secret = issued.token.clone();
    assert!(
        secret.starts_with("tnte_") && secret.len() == 45,
        "{secret}"
    );
    let info = &issued.info;
    assert_eq!(info.max_uses, Some(3));
    assert_eq!(info.uses, 0);
    assert_eq!(info.labels.get("rack").map(String::as_str), Some("r1"));
    assert!(!info.revoked);

    // Listed without the secret; stored only as its hash.
    let (_, raw) = call(server.op(Method::GET, "/api/v1/tenants/acme/enrollment-tokens")).await;
    assert!(!raw.to_string().contains(&secret));
    assert_eq!(tokens(&server, "acme").await.len(), 1);
    let registry = std::fs::read(server.data_dir.join("registry.db")).unwrap_or_default();
    let wal = std::fs::read(server.data_dir.join("registry.db-wal")).unwrap_or_default();
    for bytes in [registry, wal] {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the secret is stored in clear"
        );
    }
    assert!(
        tokens(&server, "beta").await.is_empty(),
        "tenants do not share tokens"
    );

    // The tenant's own admin manages them too; a member only reads; another tenant sees nothing.
    let dir = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
    trusted_keypair(&server, dir.path(), "k.pem", &[]);
    let admin = token(dir.path(), "k.pem", "acme", "admin", &[]);
    let member = token(dir.path(), "k.pem", "acme", "member", &[]);
    let beta_admin = token(dir.path(), "k.pem", "beta", "admin", &[]);
    let mine: IssuedEnrollmentToken = answer(
        server
            .anon(Method::POST, "/api/v1/tenants/acme/enrollment-tokens")
            .bearer_auth(&admin)
            .json(&json!({})),
        StatusCode::CREATED,
    )
    .await;
    assert!(
        mine.info.created_by.starts_with("tenant-admin:acme/"),
        "{:?}",
        mine.info
    );
    let (status, _) = call(
        server
            .anon(Method::GET, "/api/v1/tenants/acme/enrollment-tokens")
            .bearer_auth(&member),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    expect_problem(
        server
            .anon(Method::POST, "/api/v1/tenants/acme/enrollment-tokens")
            .bearer_auth(&member)
            .json(&json!({})),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_problem(
        server
            .anon(Method::GET, "/api/v1/tenants/acme/enrollment-tokens")
            .bearer_auth(&beta_admin),
        StatusCode::NOT_FOUND,
        "tenant_not_found",
    )
    .await;

    // Bad input changes nothing.
    for bad in [
        json!({ "ttl": "0s" }),
        json!({ "ttl": "400d" }),
        json!({ "max_uses": 0 }),
        json!({ "labels": { "bad key!": "v" } }),
        json!({ "extra": 1 }),
    ] {
        let (status, _) = call(
            server
                .op(Method::POST, "/api/v1/tenants/acme/enrollment-tokens")
                .json(&bad),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    assert_eq!(tokens(&server, "acme").await.len(), 2);

    // Revoking, through the CLI.
    let id = issued.info.id.to_string();
    let id = id.as_str();
    let env = [
        ("TENANTRY_SERVER_URL", server.url.as_str()),
        ("TENANTRY_API_KEY", server.key()),
    ];
    let out = run(&["tokens", "revoke", "acme", id, "-o", "json"], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let revoked: Vec<EnrollmentToken> = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)));
    assert!(revoked[0].revoked);
    expect_problem(
        server.op(
            Method::DELETE,
            "/api/v1/tenants/beta/enrollment-tokens/{id}"
                .replace("{id}", id)
                .as_str(),
        ),
        StatusCode::NOT_FOUND,
        "enrollment_token_not_found",
    )
    .await;
    let out = run(
        &[
            "tokens", "create", "acme", "--ttl", "1h", "--label", "env=prod",
        ],
        &env,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("tnte_"), "{}", text(&out.stdout));
    let out = run(&["tokens", "list", "acme"], &env);
    assert!(
        text(&out.stdout).contains("revoked") && text(&out.stdout).contains("env=prod"),
        "{}",
        text(&out.stdout)
    );

    // Purged with the tenant: a re-created tenant has none.
    let (status, _) = call(server.op(Method::DELETE, "/api/v1/tenants/acme")).await;
    assert_eq!(status, StatusCode::OK);
    server.create_tenant("acme").await;
    assert!(tokens(&server, "acme").await.is_empty());
}

/// The tenant's enrollment tokens, as the operator lists them.
async fn tokens(server: &TestServer, tenant: &str) -> Vec<EnrollmentToken> {
    let page: Page<EnrollmentToken> = answer(
        server.op(
            Method::GET,
            &format!("/api/v1/tenants/{tenant}/enrollment-tokens"),
        ),
        StatusCode::OK,
    )
    .await;
    page.items
}
