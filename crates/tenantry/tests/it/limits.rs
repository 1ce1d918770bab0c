//! Tenant limits that stop noisy neighbours: a tenant over its request rate is refused
//! with 429 `rate_limited` (and says when to come back); its neighbours, its agents'
//! check-ins and operators are not held up by it.

use std::time::Instant;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{TestServer, call};

const ACME_RATE: u32 = 5;
const ACME_BURST: u32 = 5;

async fn limit(server: &TestServer, slug: &str, limits: serde_json::Value) {
    let (status, body) = call(
        server
            .op(Method::PATCH, &format!("/api/v1/tenants/{slug}"))
            .json(&json!({ "limits": limits })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_tenant_over_its_rate_is_refused_while_its_neighbour_gets_through() {
    let server = TestServer::start();
    server.create_tenant("acme").await;
    server.create_tenant("beta").await;
    limit(
        &server,
        "acme",
        json!({ "requests_per_second": ACME_RATE, "burst": ACME_BURST }),
    )
    .await;
    let acme = server.admin_token("acme").await;
    let beta = server.admin_token("beta").await;
    let hosts = |token: &str| {
        server
            .anon(Method::GET, "/api/v1/hosts")
            .bearer_auth(token.to_owned())
    };

    // acme sends far more than its rate; beta's requests go in between.
    let started = Instant::now();
    let (mut admitted, mut refused) = (0u32, 0u32);
    for _ in 0..60 {
        let response = hosts(&acme).send().await.unwrap_or_else(|e| panic!("{e}"));
        match response.status() {
            StatusCode::OK => admitted += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                refused += 1;
                let header = |name: &str| {
                    response
                        .headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned()
                };
                let retry: u64 = header("retry-after").parse().unwrap_or(0);
                assert!(retry >= 1, "Retry-After: {retry}");
                assert_eq!(header("ratelimit-policy"), "5;w=1;burst=5");
                assert_eq!(header("ratelimit-remaining"), "0");
                let body: serde_json::Value = response.json().await.unwrap_or_default();
                assert_eq!(body["code"], "rate_limited", "{body}");
            }
            other => panic!("acme: {other}"),
        }
        let (status, body) = call(hosts(&beta)).await;
        assert_eq!(status, StatusCode::OK, "beta was held up by acme: {body}");
    }
    // GCRA: over any window at most burst + rate × window get in.
    let window = started.elapsed().as_secs_f64();
    let most = f64::from(ACME_BURST) + f64::from(ACME_RATE) * window;
    assert!(
        f64::from(admitted) <= most.ceil(),
        "{admitted} admitted in {window:.2} s (at most {most:.1})"
    );
    assert!(refused > 0, "acme was never refused");

    // Operators are not counted against the tenant: support gets through its flood.
    let (status, body) = call(server.as_tenant("acme", Method::GET, "/api/v1/hosts")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn agents_check_in_on_a_budget_of_their_own() {
    let server = TestServer::start();
    server.create_tenant("acme").await;
    let (token, _) = server.enrollment_token("acme").await;
    let host = server.enroll(&token, "machine-limits-0001", "a1").await;
    limit(
        &server,
        "acme",
        json!({ "requests_per_second": 1, "burst": 1, "checkins_per_second": 1000 }),
    )
    .await;
    let admin = server.admin_token("acme").await;
    // The request budget is spent (one, then refused)...
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let request = server
            .anon(Method::GET, "/api/v1/hosts")
            .bearer_auth(&admin);
        statuses.push(call(request).await.0);
    }
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    // ...and the agent checks in all the same.
    for _ in 0..5 {
        let (status, body) = call(
            server
                .anon(Method::POST, "/api/v1/agent/checkin")
                .bearer_auth(&host.credential)
                .json(&json!({})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // Its own budget, when set, is enforced too.
    limit(
        &server,
        "acme",
        json!({ "checkins_per_second": 1, "checkin_burst": 1 }),
    )
    .await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let request = server
            .anon(Method::POST, "/api/v1/agent/checkin")
            .bearer_auth(&host.credential)
            .json(&json!({}));
        statuses.push(call(request).await.0);
    }
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
}
