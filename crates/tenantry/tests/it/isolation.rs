//! Isolation as an invariant: for every hosts route and every principal, nothing of one
//! tenant is visible, changed or counted through another.

use reqwest::{Method, StatusCode};

use tenantry_proto::{Host, Page};

use crate::on_every_backend;
use crate::support::{Mode, TestServer, answer, call, expect_problem};

on_every_backend!(
    each_tenant_sees_and_stores_only_its_own_hosts,
    no_route_reaches_another_tenants_host,
    same_hostname_in_two_tenants_is_two_hosts,
    operators_list_across_tenants_but_act_on_one,
);

async fn each_tenant_sees_and_stores_only_its_own_hosts(mode: Mode) {
    let server = TestServer::start_on(mode);
    server.create_tenant("acme").await;
    server.create_tenant("beta").await;
    for h in ["a1", "a2", "shared-name"] {
        server.create_host("acme", h).await;
    }
    for h in ["b1", "shared-name"] {
        server.create_host("beta", h).await;
    }

    assert_eq!(server.hostnames("acme").await, ["a1", "a2", "shared-name"]);
    assert_eq!(server.hostnames("beta").await, ["b1", "shared-name"]);
    assert!(server.hostnames("default").await.is_empty());

    // The rows are physically in each tenant's own file and nowhere else.
    assert_eq!(
        server.stored_hostnames("acme").await,
        ["a1", "a2", "shared-name"]
    );
    assert_eq!(server.stored_hostnames("beta").await, ["b1", "shared-name"]);
    assert!(server.stored_hostnames("default").await.is_empty());
}

async fn no_route_reaches_another_tenants_host(mode: Mode) {
    let server = TestServer::start_on(mode);
    server.create_tenant("acme").await;
    server.create_tenant("beta").await;
    let a = server.create_host("acme", "secret-a").await;
    let a_id = a.id.to_string();
    server.create_host("beta", "b1").await;
    let path = format!("/api/v1/hosts/{a_id}");

    // As beta: read and delete of acme's host are both "not found" — not forbidden, which
    // would confirm the id exists elsewhere.
    expect_problem(
        server.as_tenant("beta", Method::GET, &path),
        StatusCode::NOT_FOUND,
        "host_not_found",
    )
    .await;
    expect_problem(
        server.as_tenant("beta", Method::DELETE, &path),
        StatusCode::NOT_FOUND,
        "host_not_found",
    )
    .await;
    // Listing as beta never includes it, on any page size.
    for limit in [1, 2, 500] {
        let (status, body) =
            call(server.as_tenant("beta", Method::GET, &format!("/api/v1/hosts?limit={limit}")))
                .await;
        assert_eq!(status, StatusCode::OK);
        assert!(!body.to_string().contains("secret-a"), "{body}");
        assert!(!body.to_string().contains(&a_id), "{body}");
    }
    // A cursor taken from acme's listing does not open acme's data to beta.
    let (_, body) =
        call(server.as_tenant("beta", Method::GET, &format!("/api/v1/hosts?cursor={a_id}"))).await;
    assert!(!body.to_string().contains("secret-a"));

    // Without credentials, or with a wrong key, nothing of either tenant is returned.
    for req in [
        server
            .anon(Method::GET, &path)
            .header("X-Tenantry-Tenant", "acme"),
        server
            .anon(Method::GET, "/api/v1/hosts")
            .header("X-Tenantry-Tenant", "acme"),
        server
            .anon(Method::GET, "/api/v1/hosts")
            .header("X-Tenantry-Tenant", "acme")
            .bearer_auth(crate::support::new_key()),
    ] {
        let (status, body) = call(req).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert!(!body.to_string().contains("secret-a"));
    }

    // acme's host survived all of it, and acme can still read it.
    let host: Host = answer(server.as_tenant("acme", Method::GET, &path), StatusCode::OK).await;
    assert_eq!(host.hostname, "secret-a");
    assert_eq!(host.tenant, "acme");
    assert_eq!(server.stored_hostnames("acme").await, ["secret-a"]);
    assert_eq!(server.stored_hostnames("beta").await, ["b1"]);
}

async fn same_hostname_in_two_tenants_is_two_hosts(mode: Mode) {
    let server = TestServer::start_on(mode);
    server.create_tenant("acme").await;
    server.create_tenant("beta").await;
    let a = server.create_host("acme", "web").await;
    let b = server.create_host("beta", "web").await;
    assert_ne!(a.id, b.id);
    // A duplicate within one tenant is refused and writes nothing.
    expect_problem(
        server
            .as_tenant("acme", Method::POST, "/api/v1/hosts")
            .json(&serde_json::json!({ "hostname": "web" })),
        StatusCode::CONFLICT,
        "host_exists",
    )
    .await;
    assert_eq!(server.stored_hostnames("acme").await, ["web"]);
    // Deleting acme's "web" leaves beta's.
    let path = format!("/api/v1/hosts/{}", a.id);
    let (status, _) = call(server.as_tenant("acme", Method::DELETE, &path)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(server.hostnames("acme").await.is_empty());
    assert_eq!(server.hostnames("beta").await, ["web"]);
}

async fn operators_list_across_tenants_but_act_on_one(mode: Mode) {
    let server = TestServer::start_on(mode);
    server.create_tenant("acme").await;
    server.create_tenant("beta").await;
    let a = server.create_host("acme", "a1").await;
    server.create_host("acme", "a2").await;
    server.create_host("beta", "b1").await;

    // Without a tenant, an operator's listing spans every tenant; each item names its own.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/hosts?limit=1&cursor={c}"),
            None => "/api/v1/hosts?limit=1".into(),
        };
        let page: Page<Host> = answer(server.op(Method::GET, &path), StatusCode::OK).await;
        seen.extend(
            page.items
                .iter()
                .map(|h| format!("{}:{}", h.tenant, h.hostname)),
        );
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, ["acme:a1", "acme:a2", "beta:b1"]);

    // One record needs the tenant named.
    let path = format!("/api/v1/hosts/{}", a.id);
    expect_problem(
        server.op(Method::GET, &path),
        StatusCode::BAD_REQUEST,
        "tenant_required",
    )
    .await;
    expect_problem(
        server.op(Method::DELETE, &path),
        StatusCode::BAD_REQUEST,
        "tenant_required",
    )
    .await;
    expect_problem(
        server
            .op(Method::POST, "/api/v1/hosts")
            .json(&serde_json::json!({ "hostname": "x" })),
        StatusCode::BAD_REQUEST,
        "tenant_required",
    )
    .await;
    assert_eq!(server.stored_hostnames("acme").await, ["a1", "a2"]);
}
