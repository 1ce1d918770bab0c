//! Operator authentication.

use reqwest::{Method, StatusCode};

use tenantry_proto::Health;

use crate::support::{TestServer, answer, call, expect_problem, new_key};

#[tokio::test]
async fn control_plane_requires_the_operator_key() {
    let server = TestServer::start();
    for (method, path) in [
        (Method::GET, "/api/v1/tenants"),
        (Method::POST, "/api/v1/tenants"),
        (Method::GET, "/api/v1/tenants/default"),
        (Method::PATCH, "/api/v1/tenants/default"),
        (Method::DELETE, "/api/v1/tenants/default"),
        (Method::GET, "/api/v1/tenants/default/domains"),
        (Method::GET, "/api/v1/hosts"),
        (Method::GET, "/api/v1/audit"),
    ] {
        let p = expect_problem(
            server.anon(method.clone(), path),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
        assert_eq!(p.detail, "Authorization header missing", "{method} {path}");
        expect_problem(
            server.anon(method.clone(), path).bearer_auth(new_key()),
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
        )
        .await;
        expect_problem(
            server
                .anon(method.clone(), path)
                .header("Authorization", format!("Basic {}", server.key())),
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
        )
        .await;
        expect_problem(
            server.anon(method.clone(), path).bearer_auth("not-a-key"),
            StatusCode::UNAUTHORIZED,
            "token_malformed",
        )
        .await;
    }
    let (status, _) = call(server.op(Method::GET, "/api/v1/tenants")).await;
    assert_eq!(status, StatusCode::OK);
    // Health endpoints stay open.
    let health: Health = answer(server.anon(Method::GET, "/healthz"), StatusCode::OK).await;
    assert_eq!(health.status, "ok");
    let (status, _) = call(server.anon(Method::GET, "/readyz")).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn first_start_creates_a_key_and_shows_it_once() {
    let first = TestServer::builder().without_configured_key().start();
    let key = first
        .startup_output
        .iter()
        .find_map(|l| {
            l.trim()
                .strip_prefix("tnt_")
                .map(|rest| format!("tnt_{rest}"))
        })
        .unwrap_or_else(|| panic!("no key printed: {:?}", first.startup_output));
    assert!(key.len() >= 36, "{key}");
    let (status, _) = call(first.anon(Method::GET, "/api/v1/tenants").bearer_auth(&key)).await;
    assert_eq!(status, StatusCode::OK);
    // Stored only as a hash.
    let registry = std::fs::read(first.data_dir.join("registry.db")).unwrap_or_default();
    assert!(
        !registry.windows(key.len()).any(|w| w == key.as_bytes()),
        "the key is stored in clear"
    );
    let logs = std::fs::read_to_string(
        first
            .data_dir
            .parent()
            .map(|p| p.join("stderr.log"))
            .unwrap_or_default(),
    )
    .unwrap_or_default();
    assert!(!logs.contains(&key), "the key is in the log");

    let data = first.stop();
    let second = TestServer::builder()
        .without_configured_key()
        .data_dir(&data)
        .start();
    assert!(
        !second.startup_output.iter().any(|l| l.contains("tnt_")),
        "printed again: {:?}",
        second.startup_output
    );
    let (status, _) = call(
        second
            .anon(Method::GET, "/api/v1/tenants")
            .bearer_auth(&key),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}
