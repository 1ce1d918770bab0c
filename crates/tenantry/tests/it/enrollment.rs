//! Enrollment tokens: issued once, stored only as a hash, listed without secrets, revocable,
//! purged with their tenant.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::identity::{token, trusted_keypair};
use crate::support::{TestServer, call, expect_problem, run, text};

#[tokio::test]
async fn enrollment_tokens_lifecycle() {
    let server = TestServer::start();
    server.create_tenant("acme").await;
    server.create_tenant("beta").await;

    let (status, issued) = call(
        server
            .op(Method::POST, "/api/v1/tenants/acme/enrollment-tokens")
            .json(&json!({ "ttl": "2h", "max_uses": 3, "labels": { "rack": "r1" } })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let secret = issued["token"].as_str().unwrap_or_default().to_owned();
    assert!(
        secret.starts_with("tnte_") && secret.len() == 45,
        "{secret}"
    );
    assert_eq!(issued["max_uses"], 3);
    assert_eq!(issued["uses"], 0);
    assert_eq!(issued["labels"]["rack"], "r1");
    assert_eq!(issued["revoked"], false);

    // Listed without the secret; stored only as its hash.
    let (_, list) = call(server.op(Method::GET, "/api/v1/tenants/acme/enrollment-tokens")).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    assert!(!list.to_string().contains(&secret));
    let registry = std::fs::read(server.data_dir.join("registry.db")).unwrap_or_default();
    let wal = std::fs::read(server.data_dir.join("registry.db-wal")).unwrap_or_default();
    for bytes in [registry, wal] {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the secret is stored in clear"
        );
    }
    let (_, beta) = call(server.op(Method::GET, "/api/v1/tenants/beta/enrollment-tokens")).await;
    assert_eq!(beta["items"], json!([]), "tenants do not share tokens");

    // The tenant's own admin manages them too; a member only reads; another tenant sees nothing.
    let dir = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
    trusted_keypair(&server, dir.path(), "k.pem", &[]);
    let admin = token(dir.path(), "k.pem", "acme", "admin", &[]);
    let member = token(dir.path(), "k.pem", "acme", "member", &[]);
    let beta_admin = token(dir.path(), "k.pem", "beta", "admin", &[]);
    let (status, mine) = call(
        server
            .anon(Method::POST, "/api/v1/tenants/acme/enrollment-tokens")
            .bearer_auth(&admin)
            .json(&json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{mine}");
    assert!(
        mine["created_by"]
            .as_str()
            .is_some_and(|c| c.starts_with("tenant-admin:acme/")),
        "{mine}"
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
    let (_, list) = call(server.op(Method::GET, "/api/v1/tenants/acme/enrollment-tokens")).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(2));

    // Revoking, through the CLI.
    let id = issued["id"].as_str().unwrap_or_default();
    let env = [
        ("TENANTRY_SERVER_URL", server.url.as_str()),
        ("TENANTRY_API_KEY", server.key()),
    ];
    let out = run(&["tokens", "revoke", "acme", id, "-o", "json"], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let revoked: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!(revoked[0]["revoked"], true);
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
    let (_, list) = call(server.op(Method::GET, "/api/v1/tenants/acme/enrollment-tokens")).await;
    assert_eq!(list["items"], json!([]));
}
