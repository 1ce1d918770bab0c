//! `scripts/dev-stack`: the production shape on one machine really comes up, serves a
//! tenant through OpenBAO-brokered credentials, and goes away without a trace.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use tenantry_proto::TenantStatus;

use reqwest::{Method, StatusCode};

use crate::support::{BIN, TestServer, call, text};

/// Three consecutive free loopback ports for the clusters.
fn free_port_run() -> u16 {
    for _ in 0..50 {
        let base = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(0);
        if base == 0 || base > 65000 {
            continue;
        }
        if (1..3).all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return base;
        }
    }
    panic!("no three free consecutive ports");
}

fn dev_stack(action: &str, dir: &Path, pg_port: u16, bao_port: u16) -> std::process::Output {
    dev_stack_with(action, dir, pg_port, bao_port, false)
}

fn dev_stack_with(
    action: &str,
    dir: &Path,
    pg_port: u16,
    bao_port: u16,
    tls: bool,
) -> std::process::Output {
    Command::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/dev-stack"
    ))
    .arg(action)
    .env("DEV_STACK_DIR", dir.join("stack"))
    .env("DEV_STACK_CONFIG", dir.join("tenantry.dev.yaml"))
    .env("DEV_STACK_PG_PORT", pg_port.to_string())
    .env("DEV_STACK_BAO_PORT", bao_port.to_string())
    .env("DEV_STACK_TENANTRY", BIN)
    .env("DEV_STACK_TLS", if tls { "1" } else { "0" })
    .output()
    .unwrap_or_else(|e| panic!("scripts/dev-stack {action}: {e}"))
}

/// A directory for a stack that PostgreSQL (running as its own user) can reach, and its
/// ports.
fn stack_home() -> (tempfile::TempDir, u16, u16) {
    let temp = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
    std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("{e}"));
    (temp, free_port_run(), tenantry_testkit::pg::free_port())
}

/// Brings the stack up; the guard takes it down even when an assertion fails. Returns the
/// guard and the configuration written.
fn up(dir: &Path, pg_port: u16, bao_port: u16, tls: bool) -> (Down<'_>, String) {
    let out = dev_stack_with("up", dir, pg_port, bao_port, tls);
    let guard = scopeguard(dir, pg_port, bao_port);
    assert!(
        out.status.success(),
        "up: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let config = std::fs::read_to_string(dir.join("tenantry.dev.yaml")).unwrap_or_default();
    (guard, config)
}

/// A server on the stack's configuration serves a new tenant and a host in it.
async fn serves_a_tenant(dir: &Path) -> TestServer {
    let server = TestServer::builder()
        .env(
            "TENANTRY_CONFIG",
            &dir.join("tenantry.dev.yaml").display().to_string(),
        )
        .start();
    let tenant = server.create_tenant("acme").await;
    assert_eq!(tenant.status, TenantStatus::Active, "{tenant:?}");
    server.create_host("acme", "web1").await;
    assert_eq!(server.hostnames("acme").await, vec!["web1".to_owned()]);
    server
}

#[tokio::test]
async fn dev_stack_brings_up_the_production_shape_and_removes_it() {
    let (temp, pg_port, bao_port) = stack_home();
    let (guard, config) = up(temp.path(), pg_port, bao_port, false);
    assert!(
        config.contains("auth: approle") && config.contains("tenantry_provisioner@"),
        "{config}"
    );
    assert!(
        !config.contains("postgres://postgres"),
        "the server config holds a superuser login:\n{config}"
    );

    let status = dev_stack("status", temp.path(), pg_port, bao_port);
    assert!(
        text(&status.stdout).contains("openbao: running"),
        "{}",
        text(&status.stdout)
    );

    let server = serves_a_tenant(temp.path()).await;
    let (status, _) = call(server.anon(Method::GET, "/readyz")).await;
    assert_eq!(status, StatusCode::OK);
    drop(server);

    drop(guard);
    assert!(
        !temp.path().join("stack").exists(),
        "down left the stack directory"
    );
    assert!(!temp.path().join("tenantry.dev.yaml").exists());
}

/// `DEV_STACK_TLS=1`: the same stack with TLS on every hop. The server verifies every
/// PostgreSQL cluster (`verify-full`) and OpenBAO (`-dev-tls`, `vault.ca_file`).
#[tokio::test]
async fn dev_stack_runs_with_tls_on_every_hop() {
    let (temp, pg_port, bao_port) = stack_home();
    let (guard, config) = up(temp.path(), pg_port, bao_port, true);
    assert!(
        config.matches("sslmode=verify-full").count() == 3
            && config.contains("url: https://")
            && config.contains("ca_file: "),
        "{config}"
    );
    drop(serves_a_tenant(temp.path()).await);
    drop(guard);
}

/// Takes the stack down even when an assertion fails.
struct Down<'a>(&'a Path, u16, u16);

fn scopeguard(dir: &Path, pg_port: u16, bao_port: u16) -> Down<'_> {
    Down(dir, pg_port, bao_port)
}

impl Drop for Down<'_> {
    fn drop(&mut self) {
        let out = dev_stack("down", self.0, self.1, self.2);
        if !out.status.success() {
            eprintln!("dev-stack down: {}{}", text(&out.stdout), text(&out.stderr));
        }
    }
}
