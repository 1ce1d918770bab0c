//! Resolution: Host and masquerade header name one tenant or the request is refused —
//! loudly, never silently sent to `default`.

use reqwest::{Method, StatusCode};
use serde_json::json;

use tenantry_proto::{Domain, Host, Page};

use crate::on_every_backend;
use crate::support::{Mode, TestServer, answer, call, expect_problem};

on_every_backend!(
    unresolvable_requests_are_refused_and_logged,
    host_header_routes_by_domain_and_subdomain,
    domains_are_validated_and_unique,
    unmatched_default_is_the_only_fallback
);

async fn unresolvable_requests_are_refused_and_logged(mode: Mode) {
    let server = TestServer::start_on(mode);
    server.create_tenant("acme").await;

    let problem = expect_problem(
        server
            .op(Method::POST, "/api/v1/hosts")
            .json(&json!({ "hostname": "lost" }))
            .header("x-request-id", "req-no-tenant-1"),
        StatusCode::BAD_REQUEST,
        "tenant_required",
    )
    .await;
    assert_eq!(problem.request_id, "req-no-tenant-1");
    expect_problem(
        server.as_tenant("nope", Method::GET, "/api/v1/hosts"),
        StatusCode::NOT_FOUND,
        "tenant_not_found",
    )
    .await;
    expect_problem(
        server.as_tenant("NOT A SLUG", Method::GET, "/api/v1/hosts"),
        StatusCode::NOT_FOUND,
        "tenant_not_found",
    )
    .await;
    // Nothing landed in the default tenant.
    assert!(server.stored_hostnames("default").await.is_empty());

    // The refusal is an error-level log line with request id, host, path and principal.
    let line = server
        .log_lines()
        .into_iter()
        .find(|l| l["request_id"] == "req-no-tenant-1")
        .unwrap_or_else(|| panic!("no log line for the refused request"));
    assert_eq!(line["level"], "ERROR", "{line}");
    assert_eq!(line["path"], "/api/v1/hosts", "{line}");
    assert!(
        line["host"]
            .as_str()
            .is_some_and(|h| h.starts_with("127.0.0.1:")),
        "{line}"
    );
    assert!(
        line["principal"]
            .as_str()
            .is_some_and(|p| p.starts_with("operator:")),
        "{line}"
    );
}

async fn host_header_routes_by_domain_and_subdomain(mode: Mode) {
    let server = TestServer::builder()
        .mode(mode)
        .env("TENANTRY_ROUTING__BASE_DOMAIN", "tenants.test")
        .start();
    server.create_tenant("acme").await;
    server.create_tenant("beta").await;
    server.add_domain("acme", "Fleet.Acme.com").await;

    let host: Host = answer(
        server
            .op(Method::POST, "/api/v1/hosts")
            .header("Host", "fleet.acme.com")
            .json(&json!({ "hostname": "via-domain" })),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(host.tenant, "acme");
    let host: Host = answer(
        server
            .op(Method::POST, "/api/v1/hosts")
            .header("Host", "beta.tenants.test:8080")
            .json(&json!({ "hostname": "via-sub" })),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(host.tenant, "beta");
    assert_eq!(server.stored_hostnames("acme").await, ["via-domain"]);
    assert_eq!(server.stored_hostnames("beta").await, ["via-sub"]);

    // Host and masquerade header agreeing is fine; disagreeing names both and changes nothing.
    let (status, _) = call(
        server
            .as_tenant("acme", Method::GET, "/api/v1/hosts")
            .header("Host", "fleet.acme.com"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let problem = expect_problem(
        server
            .as_tenant("beta", Method::POST, "/api/v1/hosts")
            .header("Host", "fleet.acme.com")
            .json(&json!({ "hostname": "mixed" })),
        StatusCode::FORBIDDEN,
        "tenant_mismatch",
    )
    .await;
    let detail = problem.detail.as_str();
    assert!(
        detail.contains("acme") && detail.contains("beta"),
        "{detail}"
    );
    assert_eq!(server.stored_hostnames("acme").await, ["via-domain"]);
    assert_eq!(server.stored_hostnames("beta").await, ["via-sub"]);

    // An unknown subdomain is a missing tenant, not a fallback.
    expect_problem(
        server
            .op(Method::GET, "/api/v1/hosts")
            .header("Host", "ghost.tenants.test"),
        StatusCode::NOT_FOUND,
        "tenant_not_found",
    )
    .await;

    // Removing the domain stops routing it.
    let (status, _) = call(server.op(
        Method::DELETE,
        "/api/v1/tenants/acme/domains/fleet.acme.com",
    ))
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    expect_problem(
        server
            .op(Method::POST, "/api/v1/hosts")
            .header("Host", "fleet.acme.com")
            .json(&json!({ "hostname": "nowhere" })),
        StatusCode::BAD_REQUEST,
        "tenant_required",
    )
    .await;
}

async fn domains_are_validated_and_unique(mode: Mode) {
    let server = TestServer::builder()
        .mode(mode)
        .env("TENANTRY_ROUTING__BASE_DOMAIN", "tenants.test")
        .start();
    server.create_tenant("acme").await;
    server.create_tenant("beta").await;
    let add = |slug: &str, domain: &str| {
        server
            .op(Method::POST, &format!("/api/v1/tenants/{slug}/domains"))
            .json(&json!({ "domain": domain }))
    };
    let (status, _) = call(add("acme", "acme.example.com")).await;
    assert_eq!(status, StatusCode::CREATED);
    expect_problem(
        add("beta", "ACME.example.com"),
        StatusCode::CONFLICT,
        "domain_exists",
    )
    .await;
    for bad in [
        "localhost",
        "bad domain.com",
        "x'.com",
        "-a.com",
        "a.tenants.test",
    ] {
        expect_problem(
            add("acme", bad),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_domain",
        )
        .await;
    }
    expect_problem(
        add("ghost", "g.example.com"),
        StatusCode::NOT_FOUND,
        "tenant_not_found",
    )
    .await;
    expect_problem(
        server.op(
            Method::DELETE,
            "/api/v1/tenants/beta/domains/acme.example.com",
        ),
        StatusCode::NOT_FOUND,
        "domain_not_found",
    )
    .await;
    let list: Page<Domain> = answer(
        server.op(Method::GET, "/api/v1/tenants/acme/domains"),
        StatusCode::OK,
    )
    .await;
    assert_eq!(list.items[0].domain, "acme.example.com");
    let list: Page<Domain> = answer(
        server.op(Method::GET, "/api/v1/tenants/beta/domains"),
        StatusCode::OK,
    )
    .await;
    assert!(list.items.is_empty());
}

async fn unmatched_default_is_the_only_fallback(mode: Mode) {
    let server = TestServer::builder()
        .mode(mode)
        .env("TENANTRY_ROUTING__UNMATCHED", "default")
        .start();
    server.create_tenant("acme").await;
    let host: Host = answer(
        server
            .op(Method::POST, "/api/v1/hosts")
            .json(&json!({ "hostname": "unrouted" })),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(host.tenant, "default");
    assert_eq!(server.stored_hostnames("default").await, ["unrouted"]);
    assert!(server.stored_hostnames("acme").await.is_empty());
    // A named tenant that does not exist is still refused, never sent to default.
    expect_problem(
        server.as_tenant("nope", Method::GET, "/api/v1/hosts"),
        StatusCode::NOT_FOUND,
        "tenant_not_found",
    )
    .await;
}
