//! Starting twice on the same data directory keeps everything.

use reqwest::{Method, StatusCode};

use tenantry_proto::{Host, Page, Tenant};

use crate::on_every_backend;
use crate::support::{Mode, TestServer, answer};

on_every_backend!(restart_keeps_tenants_hosts_and_domains);

async fn restart_keeps_tenants_hosts_and_domains(mode: Mode) {
    let first = TestServer::start_on(mode);
    let key = first.key().to_owned();
    let pg = first.pg.clone();
    first.create_tenant("acme").await;
    first.create_host("acme", "web1").await;
    first.add_domain("acme", "acme.example.com").await;
    let data = first.stop();

    let mut second = TestServer::builder()
        .mode(mode)
        .data_dir(&data)
        .api_key(&key);
    if let Some(pg) = &pg {
        second = second.pg(pg);
    }
    let second = second.start();
    assert_eq!(second.hostnames("acme").await, ["web1"]);
    let page: Page<Host> = answer(
        second
            .op(Method::GET, "/api/v1/hosts")
            .header("Host", "acme.example.com"),
        StatusCode::OK,
    )
    .await;
    assert_eq!(page.items[0].hostname, "web1");
    assert_eq!(second.stored_hostnames("acme").await, ["web1"]);
    // The restart did not duplicate the built-in tenant or re-run migrations.
    let list: Page<Tenant> =
        answer(second.op(Method::GET, "/api/v1/tenants"), StatusCode::OK).await;
    let slugs: Vec<&str> = list.items.iter().map(|t| t.slug.as_str()).collect();
    assert_eq!(slugs, ["acme", "default"]);
    assert!(
        !second
            .log_lines()
            .iter()
            .any(|l| l["message"] == "migrated"),
        "a restart on a current store migrates nothing"
    );
}
