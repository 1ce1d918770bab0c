//! Bad input gets a clear problem document and changes nothing.

use reqwest::{Method, StatusCode};
use serde_json::json;

use tenantry_proto::{Page, Tenant};

use crate::on_every_backend;
use crate::support::{Mode, TestServer, answer, expect_problem};

on_every_backend!(malformed_bodies_change_nothing);

async fn malformed_bodies_change_nothing(mode: Mode) {
    let server = TestServer::start_on(mode);
    server.create_tenant("acme").await;

    let body = |b: &'static str| {
        server
            .op(Method::POST, "/api/v1/tenants")
            .header("content-type", "application/json")
            .body(b)
    };
    expect_problem(body("{\"slug\":"), StatusCode::BAD_REQUEST, "invalid_body").await;
    expect_problem(
        body("{\"slug\": 42}"),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    )
    .await;
    expect_problem(
        body("{\"slug\": \"ok-slug\", \"evil\": 1}"),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    )
    .await;
    expect_problem(
        server
            .op(Method::POST, "/api/v1/tenants")
            .body("{\"slug\":\"ok-slug\"}"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    expect_problem(
        server
            .op(Method::POST, "/api/v1/tenants")
            .json(&json!({ "slug": "ok-slug", "display_name": "" })),
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    let list: Page<Tenant> =
        answer(server.op(Method::GET, "/api/v1/tenants"), StatusCode::OK).await;
    assert_eq!(list.items.len(), 2, "{list:?}");

    let host = |v: serde_json::Value| {
        server
            .as_tenant("acme", Method::POST, "/api/v1/hosts")
            .json(&v)
    };
    for bad in [
        json!({ "hostname": "" }),
        json!({ "hostname": "has space" }),
        json!({ "hostname": "x'; DROP TABLE hosts; --" }),
        json!({ "hostname": "ok", "labels": { "bad key!": "v" } }),
        json!({ "hostname": "a".repeat(254) }),
    ] {
        let p = expect_problem(
            host(bad),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        let detail = p.detail.to_lowercase();
        assert!(
            !detail.contains("insert") && !detail.contains("sqlite") && !detail.contains(".db"),
            "{detail}"
        );
    }
    expect_problem(
        server.as_tenant("acme", Method::GET, "/api/v1/hosts/not-a-uuid"),
        StatusCode::NOT_FOUND,
        "host_not_found",
    )
    .await;
    expect_problem(
        server.as_tenant("acme", Method::GET, "/api/v1/hosts?limit=9999"),
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
    expect_problem(
        server.as_tenant("acme", Method::GET, "/api/v1/hosts?cursor=zzz"),
        StatusCode::BAD_REQUEST,
        "invalid_cursor",
    )
    .await;
    assert!(server.stored_hostnames("acme").await.is_empty());

    expect_problem(
        server.op(Method::GET, "/api/v1/nothing-here"),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_problem(
        server.op(Method::PUT, "/api/v1/tenants"),
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
}
