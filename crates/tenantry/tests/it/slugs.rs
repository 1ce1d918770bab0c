//! Every class of bad slug is refused with the rule, and creates nothing.

use reqwest::{Method, StatusCode};
use serde_json::json;

use tenantry_proto::{Page, Tenant};

use crate::on_every_backend;
use crate::support::{Mode, TestServer, answer, expect_problem};

on_every_backend!(
    bad_slugs_are_refused_and_create_nothing,
    boundary_slugs_are_accepted
);

async fn bad_slugs_are_refused_and_create_nothing(mode: Mode) {
    let server = TestServer::start_on(mode);
    let long = "a".repeat(41);
    let bad = [
        "Acme",        // uppercase
        "ac--me",      // double hyphen
        "1acme",       // leading digit
        "-acme",       // leading hyphen
        "acme-",       // trailing hyphen
        long.as_str(), // 41 characters
        "a",           // too short
        "admin",       // reserved
        "postgres",    // reserved
        "template",    // reserved
        "ac'me",       // quote
        "ac\"me",      // double quote
        "ac;me",       // semicolon
        "ac me",       // space
        "acmé",        // non-ASCII
        "x'; DROP TABLE registry_tenants; --",
        "../etc",
        "",
    ];
    let stores_before = server.physical_tenants().await;
    for slug in bad {
        let problem = expect_problem(
            server
                .op(Method::POST, "/api/v1/tenants")
                .json(&json!({ "slug": slug })),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_slug",
        )
        .await;
        let detail = problem.detail.as_str();
        assert!(
            detail.contains("2 to 40 characters"),
            "the rule is stated: {detail}"
        );
        assert!(
            !detail.to_lowercase().contains("select") && !detail.contains("/tmp"),
            "{detail}"
        );
    }
    assert_eq!(
        server.physical_tenants().await,
        stores_before,
        "no database, schema or file was created"
    );
    let list: Page<Tenant> =
        answer(server.op(Method::GET, "/api/v1/tenants"), StatusCode::OK).await;
    let slugs: Vec<&str> = list.items.iter().map(|t| t.slug.as_str()).collect();
    assert_eq!(slugs, ["default"], "no registry row was created");
    let media: Vec<String> = std::fs::read_dir(server.data_dir.join("media"))
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(media.is_empty(), "media were stored: {media:?}");
}

async fn boundary_slugs_are_accepted(mode: Mode) {
    let server = TestServer::start_on(mode);
    let forty = format!("a{}", "b".repeat(39));
    for slug in ["ab", "a1", "acme-corp-2", forty.as_str()] {
        server.create_tenant(slug).await;
        assert!(server.storage_exists(slug).await, "{slug}");
    }
}
