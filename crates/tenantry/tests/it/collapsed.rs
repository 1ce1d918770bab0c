//! Collapsed mode: multi-tenancy off, one database holds all three chains.

use reqwest::{Method, StatusCode};
use serde_json::json;

use tenantry_proto::Host;

use crate::support::{TestServer, answer, expect_problem, hostnames_in_file, run, text};

#[tokio::test]
async fn single_database_end_to_end() {
    let server = TestServer::builder()
        .env("TENANTRY_MULTITENANCY__ENABLED", "false")
        .start();
    for (method, path) in [
        (Method::GET, "/api/v1/tenants"),
        (Method::POST, "/api/v1/tenants"),
        (Method::GET, "/api/v1/tenants/default"),
        (Method::GET, "/api/v1/tenants/default/domains"),
    ] {
        expect_problem(
            server.op(method, path).json(&json!({ "slug": "acme" })),
            StatusCode::CONFLICT,
            "multitenancy_disabled",
        )
        .await;
    }
    // Tenant routes need no tenant: everything is the built-in one.
    let host: Host = answer(
        server
            .op(Method::POST, "/api/v1/hosts")
            .json(&json!({ "hostname": "solo" })),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(host.tenant, "default");
    assert_eq!(server.hostnames("default").await, ["solo"]);
    expect_problem(
        server.as_tenant("acme", Method::GET, "/api/v1/hosts"),
        StatusCode::NOT_FOUND,
        "tenant_not_found",
    )
    .await;

    // One file: the registry holds the tenant tables too; no tenant files exist.
    let registry = server.data_dir.join("registry.db");
    assert_eq!(hostnames_in_file(&registry).await, ["solo"]);
    let tenant_files = std::fs::read_dir(server.data_dir.join("tenants"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(tenant_files, 0);
    assert!(!server.data_dir.join("template.db").exists());

    // All three chains' version tables are in that one file, and migrate agrees it is current.
    let data = server.stop();
    let data_s = data.display().to_string();
    let env = [
        ("TENANTRY_DATA_DIR", data_s.as_str()),
        ("TENANTRY_MULTITENANCY__ENABLED", "false"),
    ];
    let out = run(&["migrate", "--status"], &env);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    for chain in ["registry", "shared", "tenant"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.contains(chain) && l.contains("current")),
            "{chain}: {stdout}"
        );
    }
}

#[tokio::test]
async fn a_multi_tenant_store_cannot_be_collapsed() {
    let server = TestServer::start();
    server.create_tenant("acme").await;
    let data = server.stop();
    let data_s = data.display().to_string();
    let out = run(
        &["serve"],
        &[
            ("TENANTRY_DATA_DIR", data_s.as_str()),
            ("TENANTRY_MULTITENANCY__ENABLED", "false"),
            ("TENANTRY_SERVER__LISTEN", "127.0.0.1:0"),
        ],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("multitenancy.enabled"),
        "{}",
        text(&out.stderr)
    );
}
