//! End to end, on every backend: two tenants, one real agent process each enrolled with its
//! own tenant's token, a session template of the same name in both, a session per tenant
//! that runs to completion through check-ins, `verify-routing` clean, and each tenant's
//! storage holding only its own hosts. Plus the v2 rules: another tenant's template is
//! 404, components are read-only to tenants, options are operators' only.

use std::path::{Path, PathBuf};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::on_every_backend;
use crate::support::{Mode, TestServer, call, expect_problem, run, text};

on_every_backend!(two_tenants_two_agents_one_template_name_two_sessions);

async fn token(server: &TestServer, tenant: &str) -> String {
    let (status, issued) = call(
        server
            .op(
                Method::POST,
                &format!("/api/v1/tenants/{tenant}/enrollment-tokens"),
            )
            .json(&json!({ "labels": { "rack": tenant } })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    issued["token"].as_str().unwrap_or_default().to_owned()
}

/// An agent of its own (state dir, machine id, hook that records what it applied).
fn agent(dir: &Path, server: &TestServer, token: &str, name: &str) -> PathBuf {
    let home = dir.join(name);
    std::fs::create_dir_all(&home).unwrap_or_else(|e| panic!("{e}"));
    let hook = home.join("hook.sh");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\necho \"$TENANTRY_OPERATION $TENANTRY_IMAGE $TENANTRY_KERNEL_PARAMETERS\" >> {}\n",
            home.join("applied.log").display()
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let config = home.join("agent.yaml");
    std::fs::write(
        &config,
        format!(
            "server:\n  url: {}\nsecurity:\n  enrollment_token: {token}\nstate_dir: {}\ninterval: 30s\nmachine_id: machine-{name}\nhook: {}\n",
            server.url,
            home.join("state").display(),
            hook.display()
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    config
}

fn config_hook(config: &Path) -> PathBuf {
    config.with_file_name("hook.sh")
}

fn run_agent(config: &Path) -> String {
    let out = run(
        &["agent", "--config", &config.display().to_string(), "--once"],
        &[],
    );
    assert!(
        out.status.success(),
        "agent: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn template(image: &str) -> Value {
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    json!({
        "name": "nightly",
        "description": "boot everything",
        "boot_sets": [
            { "name": "by-name", "node_list": [hostname.trim(), "not-a-host"], "image": image,
              "kernel_parameters": "console=ttyS0" }
        ]
    })
}

async fn two_tenants_two_agents_one_template_name_two_sessions(mode: Mode) {
    let server = TestServer::start_on(mode);
    server.create_tenant("acme").await;
    server.create_tenant("beta").await;
    server.create_host("acme", "decoy").await;
    let dir = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
    let agents = [
        (
            "acme",
            agent(dir.path(), &server, &token(&server, "acme").await, "acme-1"),
        ),
        (
            "beta",
            agent(dir.path(), &server, &token(&server, "beta").await, "beta-1"),
        ),
    ];
    for (_, config) in &agents {
        assert!(run_agent(config).contains("enrolled host"));
    }

    // The same template name in both tenants, each with its own image.
    for tenant in ["acme", "beta"] {
        let (status, t) = call(
            server
                .as_tenant(tenant, Method::POST, "/api/v2/sessiontemplates")
                .json(&template(&format!("{tenant}.img"))),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{t}");
        assert_eq!(t["tenant"], tenant);
    }
    let (_, acme_t) =
        call(server.as_tenant("acme", Method::GET, "/api/v2/sessiontemplates/nightly")).await;
    assert_eq!(acme_t["boot_sets"][0]["image"], "acme.img");

    // A session per tenant: targets are the template's nodes among the tenant's own hosts.
    let mut ids = Vec::new();
    for tenant in ["acme", "beta"] {
        let (status, s) = call(
            server
                .as_tenant(tenant, Method::POST, "/api/v2/sessions")
                .json(&json!({ "template_name": "nightly", "operation": "reboot" })),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{s}");
        assert_eq!(s["status"], "pending", "{s}");
        assert_eq!(s["targets"].as_array().map(Vec::len), Some(1), "{s}");
        ids.push(s["id"].as_str().unwrap_or_default().to_owned());
    }
    // Components show the desired state; tenants may read but not change them.
    let (_, components) = call(server.as_tenant("acme", Method::GET, "/api/v2/components")).await;
    let mine: Vec<&Value> = components["items"]
        .as_array()
        .map(|c| c.iter().filter(|c| !c["desired_state"].is_null()).collect())
        .unwrap_or_default();
    assert_eq!(mine.len(), 1, "{components}");
    assert_eq!(mine[0]["desired_state"]["image"], "acme.img");
    let component = mine[0]["id"].as_str().unwrap_or_default().to_owned();
    let (status, admin) = call(
        server
            .op(Method::POST, "/api/v1/tenants/acme/admin-token")
            .json(&json!({ "ttl": "1h" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{admin}");
    let admin = admin["token"].as_str().unwrap_or_default().to_owned();
    let (status, read) = call(
        server
            .anon(Method::GET, &format!("/api/v2/components/{component}"))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{read}");
    expect_problem(
        server
            .anon(Method::PATCH, &format!("/api/v2/components/{component}"))
            .bearer_auth(&admin)
            .json(&json!({ "desired_state": null })),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    // The tenant's admin cannot reach the other tenant's templates at all.
    expect_problem(
        server
            .anon(Method::GET, "/api/v2/sessiontemplates/nightly")
            .bearer_auth(&admin)
            .header("X-Tenantry-Tenant", "beta"),
        StatusCode::FORBIDDEN,
        "masquerade_forbidden",
    )
    .await;

    // Each agent receives its own tenant's desired state, applies it and reports.
    for (tenant, config) in &agents {
        let out = run_agent(config);
        assert!(out.contains("applied reboot of boot set by-name"), "{out}");
        let log = std::fs::read_to_string(config.with_file_name("applied.log")).unwrap_or_default();
        assert_eq!(log.trim(), format!("reboot {tenant}.img console=ttyS0"));
    }
    for (tenant, id) in ["acme", "beta"].iter().zip(&ids) {
        let (_, s) =
            call(server.as_tenant(tenant, Method::GET, &format!("/api/v2/sessions/{id}"))).await;
        assert_eq!(s["status"], "complete", "{tenant}: {s}");
        assert_eq!(s["progress"]["applied"], 1, "{s}");
        assert!(s["completed_at"].is_string());
    }
    // Nothing more to apply.
    for (_, config) in &agents {
        assert!(!run_agent(config).contains("applied"));
    }

    // A template only acme has does not exist for beta: 404 (never 403), for reading it
    // and for starting a session from it.
    let (status, _) = call(
        server
            .as_tenant("acme", Method::PUT, "/api/v2/sessiontemplates/acme-only")
            .json(&json!({ "boot_sets": [ { "name": "all", "node_labels": { "rack": "acme" }, "image": "a.img" } ] })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    expect_problem(
        server.as_tenant("beta", Method::GET, "/api/v2/sessiontemplates/acme-only"),
        StatusCode::NOT_FOUND,
        "template_not_found",
    )
    .await;
    expect_problem(
        server
            .as_tenant("beta", Method::POST, "/api/v2/sessions")
            .json(&json!({ "template_name": "acme-only", "operation": "boot" })),
        StatusCode::NOT_FOUND,
        "template_not_found",
    )
    .await;
    // A failing hook fails the session (node_labels select acme's agent by its token label).
    std::fs::write(
        config_hook(&agents[0].1),
        "#!/bin/sh
echo disk on fire >&2
exit 3
",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (status, failing) = call(
        server
            .as_tenant("acme", Method::POST, "/api/v2/sessions")
            .json(&json!({ "template_name": "acme-only", "operation": "shutdown" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{failing}");
    assert_eq!(
        failing["targets"].as_array().map(Vec::len),
        Some(1),
        "{failing}"
    );
    assert!(run_agent(&agents[0].1).contains("failed to apply shutdown"));
    let (_, failing) = call(server.as_tenant(
        "acme",
        Method::GET,
        &format!(
            "/api/v2/sessions/{}",
            failing["id"].as_str().unwrap_or_default()
        ),
    ))
    .await;
    assert_eq!(failing["status"], "failed", "{failing}");
    assert_eq!(failing["error"], "1 of 1 targets failed");

    // Isolation: the other tenant's session and template are simply not found.
    expect_problem(
        server.as_tenant("beta", Method::GET, &format!("/api/v2/sessions/{}", ids[0])),
        StatusCode::NOT_FOUND,
        "session_not_found",
    )
    .await;
    expect_problem(
        server
            .as_tenant("acme", Method::POST, "/api/v2/sessions")
            .json(&json!({ "template_name": "weekly", "operation": "boot" })),
        StatusCode::NOT_FOUND,
        "template_not_found",
    )
    .await;

    // The operator sees both tenants' templates and sessions, each naming its tenant, and
    // must act as a tenant to change one.
    let (_, all) = call(server.op(Method::GET, "/api/v2/sessiontemplates")).await;
    let tenants: Vec<&str> = all["items"]
        .as_array()
        .map(|i| i.iter().filter_map(|t| t["tenant"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(tenants, ["acme", "acme", "beta"], "{all}");
    let (_, all) = call(server.op(Method::GET, "/api/v2/sessions?status=complete")).await;
    assert_eq!(all["items"].as_array().map(Vec::len), Some(2), "{all}");
    expect_problem(
        server
            .op(Method::POST, "/api/v2/sessions")
            .json(&json!({ "template_name": "nightly", "operation": "boot" })),
        StatusCode::BAD_REQUEST,
        "tenant_required",
    )
    .await;
    let (status, c) = call(server.as_tenant(
        "acme",
        Method::GET,
        &format!("/api/v2/components/{component}"),
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{c}");
    // Its last report was the failed shutdown.
    assert_eq!(c["actual_state"]["status"], "failed", "{c}");
    assert_eq!(c["actual_state"]["operation"], "shutdown", "{c}");

    // Options are the operators'.
    expect_problem(
        server
            .anon(Method::GET, "/api/v2/options")
            .bearer_auth(&admin),
        StatusCode::FORBIDDEN,
        "operator_only",
    )
    .await;
    let (status, o) = call(
        server
            .op(Method::PATCH, "/api/v2/options")
            .json(&json!({ "default_session_timeout_secs": 600 })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{o}");
    assert_eq!(o["default_session_timeout_secs"], 600);

    // Each tenant's storage holds only its own hosts, and routing verifies clean.
    assert_eq!(server.stored_hostnames("beta").await.len(), 1);
    assert_eq!(server.stored_hostnames("acme").await.len(), 2);
    let env: Vec<(String, String)> = server.command_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let out = run(&["verify-routing"], &env);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("routing verified"), "{stdout}");
    let acme_row = stdout
        .lines()
        .find(|l| l.starts_with("acme"))
        .unwrap_or_default();
    let columns: Vec<&str> = acme_row.split_whitespace().collect();
    assert_eq!(&columns[3..6], ["2", "2", "2"], "{stdout}");
}

/// A session whose targets never report fails once the options' timeout has passed.
#[tokio::test]
async fn a_session_nobody_reports_on_times_out() {
    let server = TestServer::start();
    server.create_tenant("acme").await;
    let host = server.create_host("acme", "silent-1").await;
    let (status, o) = call(
        server
            .op(Method::PATCH, "/api/v2/options")
            .json(&json!({ "default_session_timeout_secs": 10 })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{o}");
    let (status, _) = call(
        server
            .as_tenant("acme", Method::POST, "/api/v2/sessiontemplates")
            .json(&json!({ "name": "t", "boot_sets": [ { "name": "b", "node_list": ["silent-1"], "image": "i" } ] })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, session) = call(
        server
            .as_tenant("acme", Method::POST, "/api/v2/sessions")
            .json(&json!({ "template_name": "t", "operation": "boot" })),
    )
    .await;
    assert_eq!(session["targets"][0], host["id"], "{session}");
    let url = format!(
        "/api/v2/sessions/{}",
        session["id"].as_str().unwrap_or_default()
    );
    let (_, pending) = call(server.as_tenant("acme", Method::GET, &url)).await;
    assert_eq!(pending["status"], "pending", "{pending}");
    // The session's own deadline is the event under test: wait for that moment, once.
    let timeout_at: chrono::DateTime<chrono::Utc> = pending["timeout_at"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no timeout_at: {pending}"));
    let left = (timeout_at - chrono::Utc::now())
        .to_std()
        .unwrap_or_default();
    tokio::time::sleep_until(
        tokio::time::Instant::now() + left + std::time::Duration::from_millis(50),
    )
    .await;
    let (_, s) = call(server.as_tenant("acme", Method::GET, &url)).await;
    assert_eq!(s["status"], "failed", "{s}");
    assert_eq!(s["error"], "timed out before every target reported", "{s}");
    let (_, failed) =
        call(server.as_tenant("acme", Method::GET, "/api/v2/sessions?status=failed")).await;
    assert_eq!(
        failed["items"].as_array().map(Vec::len),
        Some(1),
        "{failed}"
    );
}
