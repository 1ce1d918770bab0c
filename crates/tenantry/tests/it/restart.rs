//! Starting twice on the same data directory keeps everything.

use reqwest::{Method, StatusCode};

use crate::support::{TestServer, call, hostnames_in_file};

#[tokio::test]
async fn restart_keeps_tenants_hosts_and_domains() {
    let first = TestServer::start();
    let key = first.key().to_owned();
    first.create_tenant("acme").await;
    first.create_host("acme", "web1").await;
    first.add_domain("acme", "acme.example.com").await;
    let data = first.stop();

    let second = TestServer::builder().data_dir(&data).api_key(&key).start();
    assert_eq!(second.hostnames("acme").await, ["web1"]);
    let (status, body) = call(
        second
            .op(Method::GET, "/api/v1/hosts")
            .header("Host", "acme.example.com"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["items"][0]["hostname"], "web1");
    assert_eq!(hostnames_in_file(&second.tenant_db("acme")).await, ["web1"]);
    // The restart did not duplicate the built-in tenant or re-run migrations.
    let (_, list) = call(second.op(Method::GET, "/api/v1/tenants")).await;
    let slugs: Vec<&str> = list["items"]
        .as_array()
        .map(|a| a.iter().filter_map(|t| t["slug"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(slugs, ["acme", "default"]);
    assert!(
        !second
            .log_lines()
            .iter()
            .any(|l| l["message"] == "migrated"),
        "a restart on a current store migrates nothing"
    );
}
