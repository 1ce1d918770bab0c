//! Interrupted lifecycle steps: the slug stays reserved, and the next start finishes them.

use std::path::Path;

use reqwest::{Method, StatusCode};
use serde_json::json;

use tenantry_proto::{Tenant, TenantStatus};

use crate::support::{TestServer, answer, expect_problem, hostnames_in_file};

async fn registry_exec(data: &Path, sql: &'static str) {
    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::{ConnectOptions, Connection};
    let mut conn = SqliteConnectOptions::new()
        .filename(data.join("registry.db"))
        .connect()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    sqlx::query(sql)
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let _ = conn.close().await;
}

#[tokio::test]
async fn an_unfinished_purge_keeps_the_slug_reserved_until_a_restart_finishes_it() {
    let server = TestServer::start();
    let key = server.key().to_owned();
    server.create_tenant("acme").await;
    server.create_host("acme", "old-data").await;

    // A real fault: something the purge cannot remove sits where the tenant's files are.
    let staging = server.data_dir.join("tenants/.acme.db.new");
    std::fs::create_dir_all(staging.join("stuck")).unwrap_or_else(|e| panic!("{e}"));
    let p = expect_problem(
        server.op(Method::DELETE, "/api/v1/tenants/acme"),
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
    )
    .await;
    let detail = p.detail.as_str();
    assert!(
        !detail.contains("/tmp") && !detail.contains(".db"),
        "path leaked: {detail}"
    );

    // Half-deleted: refused for requests, and the slug cannot be taken again.
    expect_problem(
        server.as_tenant("acme", Method::GET, "/api/v1/hosts"),
        StatusCode::CONFLICT,
        "tenant_deleting",
    )
    .await;
    expect_problem(
        server
            .op(Method::POST, "/api/v1/tenants")
            .json(&json!({ "slug": "acme" })),
        StatusCode::CONFLICT,
        "tenant_deleting",
    )
    .await;
    expect_problem(
        server
            .op(Method::PATCH, "/api/v1/tenants/acme")
            .json(&json!({ "status": "active" })),
        StatusCode::CONFLICT,
        "invalid_status_transition",
    )
    .await;
    let t: Tenant = answer(
        server.op(Method::GET, "/api/v1/tenants/acme"),
        StatusCode::OK,
    )
    .await;
    assert_eq!(t.status, TenantStatus::Deleting);

    // The fault is cleared; the next start finishes the purge and frees the slug.
    std::fs::remove_dir_all(&staging).unwrap_or_else(|e| panic!("{e}"));
    let data = server.stop();
    let server = TestServer::builder().data_dir(&data).api_key(&key).start();
    expect_problem(
        server.op(Method::GET, "/api/v1/tenants/acme"),
        StatusCode::NOT_FOUND,
        "tenant_not_found",
    )
    .await;
    assert!(!server.tenant_db("acme").exists());
    assert!(!server.media_dir("acme").exists());
    server.create_tenant("acme").await;
    assert!(
        server.hostnames("acme").await.is_empty(),
        "a re-created tenant saw old data"
    );
}

#[tokio::test]
async fn an_interrupted_provisioning_is_finished_on_start() {
    let server = TestServer::start();
    let key = server.key().to_owned();
    server.create_tenant("acme").await;
    let data = server.stop();
    // As if the server died right after recording the tenant: no file, not active.
    std::fs::remove_file(data.join("tenants/acme.db")).unwrap_or_else(|e| panic!("{e}"));
    registry_exec(
        &data,
        "UPDATE registry_tenants SET status = 'provisioning' WHERE slug = 'acme'",
    )
    .await;

    let server = TestServer::builder().data_dir(&data).api_key(&key).start();
    let t: Tenant = answer(
        server.op(Method::GET, "/api/v1/tenants/acme"),
        StatusCode::OK,
    )
    .await;
    assert_eq!(t.status, TenantStatus::Active, "{t:?}");
    server.create_host("acme", "web1").await;
    assert_eq!(hostnames_in_file(&server.tenant_db("acme")).await, ["web1"]);
}
