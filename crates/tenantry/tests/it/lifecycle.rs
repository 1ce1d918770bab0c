//! Tenant lifecycle: create, read, rename, suspend/resume, delete with a verified purge.

use reqwest::{Method, StatusCode};
use serde_json::json;

use tenantry_proto::{AuditEvent, Domain, Page, PurgeReport, Tenant, TenantStatus};

use crate::on_every_backend;
use crate::support::{Mode, TestServer, answer, call, expect_problem};

on_every_backend!(
    delete_purges_everything_and_recreate_is_empty,
    create_get_list_and_conflicts,
    default_tenant_is_builtin_and_protected,
    suspend_refuses_requests_and_resume_restores_them
);

async fn delete_purges_everything_and_recreate_is_empty(mode: Mode) {
    let server = TestServer::start_on(mode);
    let created = server.create_tenant("acme").await;
    server.create_host("acme", "web1").await;
    server.add_domain("acme", "acme.example.com").await;
    let (stored, body) = call(
        server
            .as_tenant("acme", Method::PUT, "/api/v1/media/logo.png")
            .body("png"),
    )
    .await;
    assert_eq!(stored, StatusCode::CREATED, "{body}");
    assert!(
        server.media_dir("acme").exists(),
        "the upload is not in the store"
    );
    assert!(server.storage_exists("acme").await);

    let report: PurgeReport = answer(
        server.op(Method::DELETE, "/api/v1/tenants/acme"),
        StatusCode::OK,
    )
    .await;
    assert!(report.verified && report.storage_removed && report.media_removed);
    assert_eq!(report.domains_removed, 1);

    assert!(
        !server.storage_exists("acme").await,
        "tenant file left behind"
    );
    assert!(!server.media_dir("acme").exists(), "media dir left behind");
    let leftovers = server.physical_tenants().await;
    assert!(
        leftovers.iter().all(|f| !f.contains("acme")),
        "{leftovers:?}"
    );
    expect_problem(
        server.op(Method::GET, "/api/v1/tenants/acme"),
        StatusCode::NOT_FOUND,
        "tenant_not_found",
    )
    .await;
    expect_problem(
        server.as_tenant("acme", Method::GET, "/api/v1/hosts"),
        StatusCode::NOT_FOUND,
        "tenant_not_found",
    )
    .await;

    // The audit trail outlives the tenant.
    let audit: Page<AuditEvent> = answer(
        server.op(Method::GET, "/api/v1/audit?tenant=acme"),
        StatusCode::OK,
    )
    .await;
    let actions: Vec<&str> = audit.items.iter().map(|e| e.action.as_str()).collect();
    for expected in [
        "tenant.create",
        "tenant.masquerade",
        "domain.add",
        "tenant.delete",
        "tenant.purged",
    ] {
        assert!(
            actions.contains(&expected),
            "missing {expected} in {actions:?}"
        );
    }

    // Re-creating the slug gives a new, empty tenant.
    let again = server.create_tenant("acme").await;
    assert_ne!(again.id, created.id);
    assert!(server.hostnames("acme").await.is_empty());
    let domains: Page<Domain> = answer(
        server.op(Method::GET, "/api/v1/tenants/acme/domains"),
        StatusCode::OK,
    )
    .await;
    assert!(domains.items.is_empty());
}

async fn create_get_list_and_conflicts(mode: Mode) {
    let server = TestServer::start_on(mode);
    let t: Tenant = answer(
        server
            .op(Method::POST, "/api/v1/tenants")
            .json(&json!({ "slug": "acme-corp", "display_name": "Acme Corp" })),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(t.slug, "acme-corp");
    assert_eq!(t.display_name, "Acme Corp");
    assert_eq!(t.status, TenantStatus::Active);
    assert_eq!(t.isolation.as_str(), mode.isolation());
    assert_eq!(t.placement.physical_name, "t_acme_corp");

    let got: Tenant = answer(
        server.op(Method::GET, "/api/v1/tenants/acme-corp"),
        StatusCode::OK,
    )
    .await;
    assert_eq!(got.id, t.id);
    expect_problem(
        server
            .op(Method::POST, "/api/v1/tenants")
            .json(&json!({ "slug": "acme-corp" })),
        StatusCode::CONFLICT,
        "tenant_exists",
    )
    .await;
    expect_problem(
        server
            .op(Method::POST, "/api/v1/tenants")
            .json(&json!({ "slug": "default" })),
        StatusCode::CONFLICT,
        "tenant_exists",
    )
    .await;
    expect_problem(
        server.op(Method::GET, "/api/v1/tenants/nope"),
        StatusCode::NOT_FOUND,
        "tenant_not_found",
    )
    .await;
    expect_problem(
        server.op(Method::DELETE, "/api/v1/tenants/nope"),
        StatusCode::NOT_FOUND,
        "tenant_not_found",
    )
    .await;
    expect_problem(
        server
            .op(Method::PATCH, "/api/v1/tenants/nope")
            .json(&json!({ "display_name": "x" })),
        StatusCode::NOT_FOUND,
        "tenant_not_found",
    )
    .await;

    // Cursor pagination walks every tenant exactly once.
    for s in ["t-b", "t-c", "t-d"] {
        server.create_tenant(s).await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/tenants?limit=2&cursor={c}"),
            None => "/api/v1/tenants?limit=2".into(),
        };
        let page: Page<Tenant> = answer(server.op(Method::GET, &path), StatusCode::OK).await;
        assert!(page.items.len() <= 2);
        seen.extend(page.items.into_iter().map(|t| t.slug));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, ["acme-corp", "default", "t-b", "t-c", "t-d"]);
    expect_problem(
        server.op(Method::GET, "/api/v1/tenants?limit=0"),
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
    expect_problem(
        server.op(Method::GET, "/api/v1/tenants?cursor=%27;--"),
        StatusCode::BAD_REQUEST,
        "invalid_cursor",
    )
    .await;

    // Search matches slug or display name, case-insensitively; LIKE wildcards are literal.
    let slugs = |q: &str| {
        let path = format!("/api/v1/tenants?q={q}");
        let req = server.op(Method::GET, &path);
        async move {
            let page: Page<Tenant> = answer(req, StatusCode::OK).await;
            page.items.into_iter().map(|t| t.slug).collect::<Vec<_>>()
        }
    };
    assert_eq!(slugs("t-").await, ["t-b", "t-c", "t-d"]);
    assert_eq!(slugs("CORP").await, ["acme-corp"]);
    assert_eq!(slugs("%25").await, Vec::<String>::new());
    assert_eq!(slugs("_").await, Vec::<String>::new());
    assert_eq!(slugs("t-c").await, ["t-c"]);
    expect_problem(
        server.op(
            Method::GET,
            &format!("/api/v1/tenants?q={}", "x".repeat(201)),
        ),
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;

    // Host counts come from each tenant's own database, and only when asked for.
    server.create_host("t-b", "b1").await;
    server.create_host("t-b", "b2").await;
    server.create_host("t-c", "c1").await;
    let page: Page<Tenant> = answer(
        server.op(Method::GET, "/api/v1/tenants?q=t-&count_hosts=true"),
        StatusCode::OK,
    )
    .await;
    let counts: Vec<(String, u64)> = page
        .items
        .into_iter()
        .map(|t| (t.slug, t.hosts.unwrap_or(u64::MAX)))
        .collect();
    assert_eq!(
        counts,
        [("t-b".into(), 2), ("t-c".into(), 1), ("t-d".into(), 0)]
    );
    // Absent, not zero: the raw answer has no `hosts` at all.
    let (_, page) = call(server.op(Method::GET, "/api/v1/tenants?q=t-b")).await;
    assert!(page["items"][0].get("hosts").is_none(), "{page}");
}

async fn default_tenant_is_builtin_and_protected(mode: Mode) {
    let server = TestServer::start_on(mode);
    let t: Tenant = answer(
        server.op(Method::GET, "/api/v1/tenants/default"),
        StatusCode::OK,
    )
    .await;
    assert!(t.builtin);
    assert_eq!(t.status, TenantStatus::Active);
    expect_problem(
        server.op(Method::DELETE, "/api/v1/tenants/default"),
        StatusCode::CONFLICT,
        "tenant_protected",
    )
    .await;
    assert!(server.storage_exists("default").await);
}

async fn suspend_refuses_requests_and_resume_restores_them(mode: Mode) {
    let server = TestServer::start_on(mode);
    server.create_tenant("acme").await;
    server.create_host("acme", "web1").await;

    let t: Tenant = answer(
        server
            .op(Method::PATCH, "/api/v1/tenants/acme")
            .json(&json!({ "status": "suspended" })),
        StatusCode::OK,
    )
    .await;
    assert_eq!(t.status, TenantStatus::Suspended);
    expect_problem(
        server.as_tenant("acme", Method::GET, "/api/v1/hosts"),
        StatusCode::FORBIDDEN,
        "tenant_suspended",
    )
    .await;
    expect_problem(
        server
            .as_tenant("acme", Method::POST, "/api/v1/hosts")
            .json(&json!({ "hostname": "web2" })),
        StatusCode::FORBIDDEN,
        "tenant_suspended",
    )
    .await;
    // Status can only move between active and suspended through PATCH.
    expect_problem(
        server
            .op(Method::PATCH, "/api/v1/tenants/acme")
            .json(&json!({ "status": "deleting" })),
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;

    let t: Tenant = answer(
        server
            .op(Method::PATCH, "/api/v1/tenants/acme")
            .json(&json!({ "status": "active", "display_name": "Acme Inc" })),
        StatusCode::OK,
    )
    .await;
    assert_eq!(t.status, TenantStatus::Active);
    assert_eq!(t.display_name, "Acme Inc");
    // Nothing was written while suspended.
    assert_eq!(server.hostnames("acme").await, ["web1"]);
}

/// Every catalog operation is timed by name at `/metrics` (decision 0012).
#[tokio::test]
async fn catalog_operations_are_timed_by_name() {
    let server = TestServer::start();
    let created =
        r#"tenantry_catalog_operation_seconds_count{operation="insert_tenant",outcome="ok"}"#;
    // The built-in tenant was inserted at the first start.
    let before = server.metric(created).await;
    server.create_tenant("timed").await;
    assert_eq!(server.metric(created).await, before + 1);
    let read = r#"tenantry_catalog_operation_seconds_count{operation="all_tenants",outcome="ok"}"#;
    assert!(
        server.metric(read).await >= 1,
        "the routing snapshot's read is timed too"
    );
}
