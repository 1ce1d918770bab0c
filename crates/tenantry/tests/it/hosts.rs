//! The hosts API on every backend: filters (hostname prefix, label, status), sorts, cursor
//! pages that walk everything exactly once, label changes, and an enrolled host's status.

use reqwest::{Method, StatusCode};
use serde_json::json;

use tenantry_proto::{Host, HostStatus, Page};

use crate::on_every_backend;
use crate::support::{Mode, TestServer, answer, call, expect_problem};

on_every_backend!(hosts_filter_sort_page_and_relabel);

async fn names(server: &TestServer, query: &str) -> Vec<String> {
    let page: Page<Host> = answer(
        server.as_tenant("acme", Method::GET, &format!("/api/v1/hosts?{query}")),
        StatusCode::OK,
    )
    .await;
    hostnames_of(&page)
}

fn hostnames_of(page: &Page<Host>) -> Vec<String> {
    page.items.iter().map(|h| h.hostname.clone()).collect()
}

/// Follows `next_cursor` to the end, two at a time.
async fn walk(server: &TestServer, query: &str) -> Vec<String> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("/api/v1/hosts?limit=2&{query}");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: Page<Host> =
            answer(server.as_tenant("acme", Method::GET, &url), StatusCode::OK).await;
        all.extend(hostnames_of(&page));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return all,
        }
        assert!(all.len() < 100, "the cursor never ends");
    }
}

async fn hosts_filter_sort_page_and_relabel(mode: Mode) {
    let server = TestServer::start_on(mode);
    server.create_tenant("acme").await;
    server.create_tenant("beta").await;
    let created = ["web-2", "db-1", "Web-1", "web-3", "cache-1"];
    for (i, name) in created.iter().enumerate() {
        let role = if name.to_lowercase().starts_with("web") {
            "web"
        } else {
            "data"
        };
        let (status, host) = call(
            server
                .as_tenant("acme", Method::POST, "/api/v1/hosts")
                .json(&json!({ "hostname": name, "labels": { "role": role, "n": i.to_string() } })),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{host}");
    }
    server.create_host("beta", "web-9").await;
    // One enrolled host that checks in: the only online one.
    let (token, _) = server.enrollment_token("acme").await;
    let enrolled = server.enroll(&token, "machine-hosts-01", "agent-1").await;

    assert_eq!(
        names(&server, "").await,
        ["web-2", "db-1", "Web-1", "web-3", "cache-1", "agent-1"]
    );
    assert_eq!(
        names(&server, "hostname=WEB").await,
        ["web-2", "Web-1", "web-3"]
    );
    assert_eq!(
        names(&server, "hostname=web%25").await,
        Vec::<String>::new()
    );
    assert_eq!(names(&server, "label=role=data").await, ["db-1", "cache-1"]);
    assert_eq!(
        names(&server, "label=role=data&hostname=c").await,
        ["cache-1"]
    );
    assert_eq!(names(&server, "status=online").await, ["agent-1"]);
    assert_eq!(names(&server, "status=offline").await.len(), 5);
    assert_eq!(
        names(&server, "sort=-created&limit=2").await,
        ["agent-1", "cache-1"]
    );

    // Every sort pages through everything exactly once.
    let mut by_name: Vec<String> = names(&server, "").await;
    by_name.sort();
    assert_eq!(walk(&server, "sort=hostname").await, by_name);
    by_name.reverse();
    assert_eq!(walk(&server, "sort=-hostname").await, by_name);
    assert_eq!(
        walk(&server, "sort=-created").await,
        ["agent-1", "cache-1", "web-3", "Web-1", "db-1", "web-2"]
    );
    assert_eq!(
        walk(&server, "hostname=web&sort=hostname").await,
        ["Web-1", "web-2", "web-3"]
    );

    // The enrolled host's facts and status.
    let id = enrolled.host_id;
    let host: Host = answer(
        server.as_tenant("acme", Method::GET, &format!("/api/v1/hosts/{id}")),
        StatusCode::OK,
    )
    .await;
    assert_eq!(host.status, HostStatus::Online, "{host:?}");
    assert_eq!(host.facts.map(|f| f.hostname).as_deref(), Some("agent-1"));

    // Relabelling replaces the labels; another tenant's host is not found.
    let host: Host = answer(
        server
            .as_tenant("acme", Method::PATCH, &format!("/api/v1/hosts/{id}"))
            .json(&json!({ "labels": { "role": "edge" } })),
        StatusCode::OK,
    )
    .await;
    assert_eq!(host.labels, [("role".to_owned(), "edge".to_owned())].into());
    assert_eq!(names(&server, "label=role=edge").await, ["agent-1"]);
    expect_problem(
        server
            .as_tenant("beta", Method::PATCH, &format!("/api/v1/hosts/{id}"))
            .json(&json!({ "labels": { "role": "stolen" } })),
        StatusCode::NOT_FOUND,
        "host_not_found",
    )
    .await;

    // Bad parameters are refused.
    for query in [
        "sort=size",
        "label=role",
        "label=bad%20key=x",
        "status=asleep",
        "limit=0",
    ] {
        expect_problem(
            server.as_tenant("acme", Method::GET, &format!("/api/v1/hosts?{query}")),
            StatusCode::BAD_REQUEST,
            "invalid_query",
        )
        .await;
    }
    expect_problem(
        server
            .as_tenant("acme", Method::PATCH, &format!("/api/v1/hosts/{id}"))
            .json(&json!({ "labels": { "bad key": "x" } })),
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
}
