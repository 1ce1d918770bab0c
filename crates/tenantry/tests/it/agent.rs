//! The real `tenantry agent` against the real server: enrollment with a tenant's token, the
//! host credential kept 0600, check-ins, idempotent re-enrollment, refusals it must stop
//! on, deleted hosts, host limits, and bad agent input.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use tenantry_proto::{
    CheckinResponse, EnrollResponse, EnrollmentToken, Host, HostStatus, IssuedEnrollmentToken,
    Page, PurgeReport, Tenant,
};

use crate::support::{TestServer, answer, call, expect_problem, run, text};

/// An enrollment token for the tenant.
async fn token(server: &TestServer, tenant: &str, body: Value) -> (String, String) {
    let issued: IssuedEnrollmentToken = answer(
        server
            .op(
                Method::POST,
                &format!("/api/v1/tenants/{tenant}/enrollment-tokens"),
            )
            .json(&body),
        StatusCode::CREATED,
    )
    .await;
    (issued.token, issued.info.id.to_string())
}

/// Writes an agent configuration; returns its path.
pub(crate) fn agent_config(
    dir: &Path,
    server_url: &str,
    token: Option<&str>,
    machine_id: Option<&str>,
) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{e}"));
    let mut yaml = format!(
        "server:\n  url: {server_url}\nstate_dir: {}\ninterval: 30s\n",
        dir.join("state").display()
    );
    if let Some(token) = token {
        yaml.push_str(&format!("security:\n  enrollment_token: {token}\n"));
    }
    if let Some(id) = machine_id {
        yaml.push_str(&format!("machine_id: {id}\n"));
    }
    let path = dir.join("agent.yaml");
    std::fs::write(&path, yaml).unwrap_or_else(|e| panic!("{e}"));
    path
}

/// The agent stopped, saying its token was refused.
fn assert_refused(out: &std::process::Output) {
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("invalid or expired enrollment token"),
        "{}",
        text(&out.stderr)
    );
}

async fn revoke(server: &TestServer, tenant: &str, id: &str) {
    let (status, _) = call(server.op(
        Method::DELETE,
        &format!("/api/v1/tenants/{tenant}/enrollment-tokens/{id}"),
    ))
    .await;
    assert!(status.is_success());
}

/// A check-in with this host credential is refused: the host no longer exists.
async fn assert_host_unknown(server: &TestServer, credential: &str) {
    expect_problem(
        server
            .anon(Method::POST, "/api/v1/agent/checkin")
            .bearer_auth(credential)
            .json(&json!({})),
        StatusCode::UNAUTHORIZED,
        "host_unknown",
    )
    .await;
}

pub(crate) fn agent_once(config: &Path) -> std::process::Output {
    run(
        &["agent", "--config", &config.display().to_string(), "--once"],
        &[],
    )
}

fn state(config: &Path) -> Value {
    let path = config.with_file_name("state").join("agent-state.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}")))
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn token_uses(server: &TestServer, tenant: &str, id: &str) -> u64 {
    let list: Page<EnrollmentToken> = answer(
        server.op(
            Method::GET,
            &format!("/api/v1/tenants/{tenant}/enrollment-tokens"),
        ),
        StatusCode::OK,
    )
    .await;
    list.items
        .iter()
        .find(|t| t.id.to_string() == id)
        .map(|t| t.uses)
        .unwrap_or_else(|| panic!("token {id} not listed: {list:?}"))
}

#[tokio::test]
async fn an_agent_enrolls_checks_in_and_re_enrolls_as_the_same_host() {
    let server = TestServer::start();
    server.create_tenant("acme").await;
    let (secret, id) = token(
        &server,
        "acme",
        json!({ "max_uses": 1, "labels": { "site": "fra1" } }),
    )
    .await;
    let dir = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
    let config = agent_config(dir.path(), &server.url, Some(&secret), None);

    let out = agent_once(&config);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("enrolled host"),
        "{}",
        text(&out.stdout)
    );
    let saved = state(&config);
    let host_id = saved["host_id"].as_str().unwrap_or_default().to_owned();
    assert!(
        saved["credential"]
            .as_str()
            .is_some_and(|c| c.starts_with("tnth_"))
    );
    let mode = std::fs::metadata(config.with_file_name("state").join("agent-state.json"))
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or_default();
    assert_eq!(mode, 0o600, "the host credential must be private");

    // The host is the tenant's, with this machine's real facts and the token's labels.
    let host: Host = answer(
        server.as_tenant("acme", Method::GET, &format!("/api/v1/hosts/{host_id}")),
        StatusCode::OK,
    )
    .await;
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    assert_eq!(host.hostname, hostname.trim());
    let facts = host.facts.clone().unwrap_or_default();
    assert_eq!(facts.arch.as_deref(), Some(std::env::consts::ARCH));
    assert!(facts.cpus.is_some_and(|n| n >= 1), "{host:?}");
    assert!(facts.kernel.is_some_and(|k| !k.is_empty()), "{host:?}");
    let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    if let Some(version) = os_release
        .lines()
        .find_map(|l| l.strip_prefix("VERSION_ID="))
    {
        assert_eq!(
            facts.os_version.as_deref(),
            Some(version.trim_matches('"')),
            "{host:?}"
        );
    }
    assert_eq!(host.labels.get("site").map(String::as_str), Some("fra1"));
    assert_eq!(host.status, HostStatus::Online);
    assert_eq!(token_uses(&server, "acme", &id).await, 1);

    // Checking in.
    let out = agent_once(&config);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("checked in"),
        "{}",
        text(&out.stdout)
    );

    // The same machine, its state lost: the same host, and the used-up token still works
    // for it because no use is burned.
    std::fs::remove_dir_all(config.with_file_name("state")).unwrap_or_else(|e| panic!("{e}"));
    let out = agent_once(&config);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("re-enrolled host"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(state(&config)["host_id"], host_id.as_str());
    assert_eq!(token_uses(&server, "acme", &id).await, 1);
    let hosts: Page<Host> = answer(
        server.as_tenant("acme", Method::GET, "/api/v1/hosts"),
        StatusCode::OK,
    )
    .await;
    assert_eq!(hosts.items.len(), 1, "{hosts:?}");

    // Another machine with the used-up token is refused.
    let other = agent_config(
        &dir.path().join("other"),
        &server.url,
        Some(&secret),
        Some("another-machine-0001"),
    );
    assert_refused(&agent_once(&other));
}

#[tokio::test]
async fn bad_tokens_stop_the_agent_with_the_reason() {
    let server = TestServer::start();
    server.create_tenant("acme").await;
    let (secret, id) = token(&server, "acme", json!({})).await;
    let dir = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
    revoke(&server, "acme", &id).await;
    for (name, token) in [
        ("revoked", secret.as_str()),
        (
            "unknown",
            "tnte_000000000000000000000000000000000000000000000000",
        ),
        (
            "not a token",
            "tnt_definitely-not-an-enrollment-token-at-all",
        ),
    ] {
        let config = agent_config(
            &dir.path().join(name.replace(' ', "-")),
            &server.url,
            Some(token),
            None,
        );
        let out = agent_once(&config);
        assert!(!out.status.success(), "{name}");
        assert!(
            text(&out.stderr).contains("invalid or expired enrollment token"),
            "{name}: {}",
            text(&out.stderr)
        );
        assert!(
            !config
                .with_file_name("state")
                .join("agent-state.json")
                .exists()
        );
    }
    // The same refusal over HTTP, with its code.
    let body = json!({ "machine_id": "machine-0000001", "facts": { "hostname": "web1" } });
    let p = expect_problem(
        server
            .anon(Method::POST, "/api/v1/agent/enroll")
            .bearer_auth(&secret)
            .json(&body),
        StatusCode::FORBIDDEN,
        "invalid_enrollment_token",
    )
    .await;
    assert_eq!(p.detail, "invalid or expired enrollment token");
}

#[tokio::test]
async fn an_unreachable_server_is_retried_and_reported() {
    let port = tenantry_testkit::pg::free_port();
    let dir = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
    let config = agent_config(
        dir.path(),
        &format!("http://127.0.0.1:{port}"),
        Some("tnte_x"),
        None,
    );
    let out = agent_once(&config);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("unreachable") && stderr.contains("retrying in 1s"),
        "{stderr}"
    );
    assert!(stderr.contains("gave up"), "{stderr}");
}

#[tokio::test]
async fn a_deleted_host_is_unknown_and_re_enrolls_only_with_a_valid_token() {
    let server = TestServer::start();
    server.create_tenant("acme").await;
    let (secret, id) = token(&server, "acme", json!({})).await;
    let dir = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
    let config = agent_config(dir.path(), &server.url, Some(&secret), None);
    assert!(agent_once(&config).status.success());
    let saved = state(&config);
    let old_host = saved["host_id"].as_str().unwrap_or_default().to_owned();
    let credential = saved["credential"].as_str().unwrap_or_default().to_owned();

    let (status, _) =
        call(server.as_tenant("acme", Method::DELETE, &format!("/api/v1/hosts/{old_host}"))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_host_unknown(&server, &credential).await;

    // With a working token, the agent enrolls the machine again (a new host).
    let out = agent_once(&config);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("no longer knows"),
        "{}",
        text(&out.stdout)
    );
    assert_ne!(state(&config)["host_id"], old_host.as_str());

    // Without one, it stops and says why.
    let new_host = state(&config)["host_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (status, _) =
        call(server.as_tenant("acme", Method::DELETE, &format!("/api/v1/hosts/{new_host}"))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    revoke(&server, "acme", &id).await;
    assert_refused(&agent_once(&config));
}

#[tokio::test]
async fn host_limits_agent_credentials_and_bad_input() {
    let server = TestServer::start();
    server.create_tenant("acme").await;
    server.create_tenant("beta").await;
    let t: Tenant = answer(
        server
            .op(Method::PATCH, "/api/v1/tenants/acme")
            .json(&json!({ "limits": { "max_hosts": 1 } })),
        StatusCode::OK,
    )
    .await;
    assert_eq!(t.limits["max_hosts"], 1);
    let (secret, id) = token(&server, "acme", json!({})).await;
    let enroll = |machine: &str, hostname: &str| {
        server
            .anon(Method::POST, "/api/v1/agent/enroll")
            .bearer_auth(&secret)
            .json(&json!({ "machine_id": machine, "facts": { "hostname": hostname } }))
    };
    let first: EnrollResponse =
        answer(enroll("machine-0000001", "web1"), StatusCode::CREATED).await;
    expect_problem(
        enroll("machine-0000002", "web2"),
        StatusCode::TOO_MANY_REQUESTS,
        "host_limit_reached",
    )
    .await;
    // The limit refused it before a use was burned; the known machine is still fine.
    assert_eq!(token_uses(&server, "acme", &id).await, 1);
    let again: EnrollResponse = answer(enroll("machine-0000001", "web1"), StatusCode::OK).await;
    assert_eq!(again.host_id, first.host_id);
    assert!(again.reenrolled);

    // Odd input is refused and changes nothing.
    for (machine, hostname) in [
        ("machine-0000003", "bad host"),
        ("machine-0000003", "-x"),
        ("short", "web3"),
        ("machine-0000003", &"a".repeat(300)),
    ] {
        expect_problem(
            enroll(machine, hostname),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
    }
    let huge = json!({ "machine_id": "machine-0000004", "facts": { "hostname": "web4", "kernel": "k".repeat(200_000) } });
    // On a connection of its own: the server closes a connection whose body it refused.
    expect_problem(
        crate::support::http()
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
            .post(format!("{}/api/v1/agent/enroll", server.url))
            .bearer_auth(&secret)
            .json(&huge),
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
    assert_eq!(token_uses(&server, "acme", &id).await, 1);

    // The host credential reaches check-in only: not the tenant's API, not another tenant.
    let credential = first.credential;
    let checked_in: CheckinResponse = answer(
        server
            .anon(Method::POST, "/api/v1/agent/checkin")
            .bearer_auth(&credential)
            .json(&json!({})),
        StatusCode::OK,
    )
    .await;
    assert_eq!(checked_in.tenant, "acme");
    assert_eq!(checked_in.next_checkin_secs, 60);
    expect_problem(
        server
            .anon(Method::GET, "/api/v1/hosts")
            .bearer_auth(&credential),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_problem(
        server
            .anon(Method::GET, "/api/v1/hosts")
            .bearer_auth(&credential)
            .header("X-Tenantry-Tenant", "beta"),
        StatusCode::FORBIDDEN,
        "masquerade_forbidden",
    )
    .await;
    // A tampered host credential is refused.
    let mut forged: Vec<char> = credential.chars().collect();
    let at = credential.rfind('.').unwrap_or(0) + 5;
    forged[at] = if forged[at] == 'A' { 'B' } else { 'A' };
    expect_problem(
        server
            .anon(Method::POST, "/api/v1/agent/checkin")
            .bearer_auth(forged.into_iter().collect::<String>())
            .json(&json!({})),
        StatusCode::UNAUTHORIZED,
        "token_bad_signature",
    )
    .await;

    // Deleting the tenant purges its bindings too (the purge verifies the registry), and
    // its hosts' credentials stop working.
    let report: PurgeReport = answer(
        server.op(Method::DELETE, "/api/v1/tenants/acme"),
        StatusCode::OK,
    )
    .await;
    assert!(report.verified);
    assert_host_unknown(&server, &credential).await;
}
