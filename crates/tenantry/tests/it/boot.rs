//! End to end, on every backend: two tenants, one real agent process each enrolled with its
//! own tenant's token, a session template of the same name in both, a session per tenant
//! that runs to completion through check-ins, `verify-routing` clean, and each tenant's
//! storage holding only its own hosts. Plus the v2 rules: another tenant's template is
//! 404, components are read-only to tenants, options are operators' only.

use std::path::{Path, PathBuf};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use tenantry_proto::{
    ApplyStatus, Component, IssuedEnrollmentToken, Operation, Options, Page, Session,
    SessionStatus, SessionTemplate,
};

use crate::on_every_backend;
use crate::support::{Mode, TestServer, answer, call, expect_problem, run, text};

on_every_backend!(two_tenants_two_agents_one_template_name_two_sessions);

async fn token(server: &TestServer, tenant: &str) -> String {
    let issued: IssuedEnrollmentToken = answer(
        server
            .op(
                Method::POST,
                &format!("/api/v1/tenants/{tenant}/enrollment-tokens"),
            )
            .json(&json!({ "labels": { "rack": tenant } })),
        StatusCode::CREATED,
    )
    .await;
    issued.token
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
        let t: SessionTemplate = answer(
            server
                .as_tenant(tenant, Method::POST, "/api/v2/sessiontemplates")
                .json(&template(&format!("{tenant}.img"))),
            StatusCode::CREATED,
        )
        .await;
        assert_eq!(t.tenant, tenant);
    }
    let acme_t: SessionTemplate = answer(
        server.as_tenant("acme", Method::GET, "/api/v2/sessiontemplates/nightly"),
        StatusCode::OK,
    )
    .await;
    assert_eq!(acme_t.boot_sets[0].image, "acme.img");

    // A session per tenant: targets are the template's nodes among the tenant's own hosts.
    let mut ids = Vec::new();
    for tenant in ["acme", "beta"] {
        let s: Session = answer(
            server
                .as_tenant(tenant, Method::POST, "/api/v2/sessions")
                .json(&json!({ "template_name": "nightly", "operation": "reboot" })),
            StatusCode::CREATED,
        )
        .await;
        assert_eq!(s.status, SessionStatus::Pending, "{s:?}");
        assert_eq!(s.targets.len(), 1, "{s:?}");
        ids.push(s.id.to_string());
    }
    // Components show the desired state; tenants may read but not change them.
    let components: Page<Component> = answer(
        server.as_tenant("acme", Method::GET, "/api/v2/components"),
        StatusCode::OK,
    )
    .await;
    let mine: Vec<&Component> = components
        .items
        .iter()
        .filter(|c| c.desired_state.is_some())
        .collect();
    assert_eq!(mine.len(), 1, "{components:?}");
    assert_eq!(
        mine[0].desired_state.as_ref().map(|d| d.image.as_str()),
        Some("acme.img")
    );
    let component = mine[0].id.to_string();
    let admin = server.admin_token("acme").await;
    let _: Component = answer(
        server
            .anon(Method::GET, &format!("/api/v2/components/{component}"))
            .bearer_auth(&admin),
        StatusCode::OK,
    )
    .await;
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
        let s: Session = answer(
            server.as_tenant(tenant, Method::GET, &format!("/api/v2/sessions/{id}")),
            StatusCode::OK,
        )
        .await;
        assert_eq!(s.status, SessionStatus::Complete, "{tenant}: {s:?}");
        assert_eq!(s.progress.applied, 1, "{s:?}");
        assert!(s.completed_at.is_some());
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
    let failing: Session = answer(
        server
            .as_tenant("acme", Method::POST, "/api/v2/sessions")
            .json(&json!({ "template_name": "acme-only", "operation": "shutdown" })),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(failing.targets.len(), 1, "{failing:?}");
    assert!(run_agent(&agents[0].1).contains("failed to apply shutdown"));
    let failing: Session = answer(
        server.as_tenant(
            "acme",
            Method::GET,
            &format!("/api/v2/sessions/{}", failing.id),
        ),
        StatusCode::OK,
    )
    .await;
    assert_eq!(failing.status, SessionStatus::Failed, "{failing:?}");
    assert_eq!(failing.error.as_deref(), Some("1 of 1 targets failed"));

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
    let all: Page<SessionTemplate> = answer(
        server.op(Method::GET, "/api/v2/sessiontemplates"),
        StatusCode::OK,
    )
    .await;
    let tenants: Vec<&str> = all.items.iter().map(|t| t.tenant.as_str()).collect();
    assert_eq!(tenants, ["acme", "acme", "beta"], "{all:?}");
    let all: Page<Session> = answer(
        server.op(Method::GET, "/api/v2/sessions?status=complete"),
        StatusCode::OK,
    )
    .await;
    assert_eq!(all.items.len(), 2, "{all:?}");
    expect_problem(
        server
            .op(Method::POST, "/api/v2/sessions")
            .json(&json!({ "template_name": "nightly", "operation": "boot" })),
        StatusCode::BAD_REQUEST,
        "tenant_required",
    )
    .await;
    let c: Component = answer(
        server.as_tenant(
            "acme",
            Method::GET,
            &format!("/api/v2/components/{component}"),
        ),
        StatusCode::OK,
    )
    .await;
    // Its last report was the failed shutdown.
    let actual = c.actual_state.clone();
    assert_eq!(
        actual.as_ref().map(|a| a.status),
        Some(ApplyStatus::Failed),
        "{c:?}"
    );
    assert!(
        matches!(actual.map(|a| a.operation), Some(Operation::Shutdown)),
        "{c:?}"
    );

    // Options are the operators'.
    expect_problem(
        server
            .anon(Method::GET, "/api/v2/options")
            .bearer_auth(&admin),
        StatusCode::FORBIDDEN,
        "operator_only",
    )
    .await;
    let o: Options = answer(
        server
            .op(Method::PATCH, "/api/v2/options")
            .json(&json!({ "default_session_timeout_secs": 600 })),
        StatusCode::OK,
    )
    .await;
    assert_eq!(o.default_session_timeout_secs, 600);

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
    let _: Options = answer(
        server
            .op(Method::PATCH, "/api/v2/options")
            .json(&json!({ "default_session_timeout_secs": 10 })),
        StatusCode::OK,
    )
    .await;
    let (status, _) = call(
        server
            .as_tenant("acme", Method::POST, "/api/v2/sessiontemplates")
            .json(&json!({ "name": "t", "boot_sets": [ { "name": "b", "node_list": ["silent-1"], "image": "i" } ] })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let session: Session = answer(
        server
            .as_tenant("acme", Method::POST, "/api/v2/sessions")
            .json(&json!({ "template_name": "t", "operation": "boot" })),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(session.targets, [host.id], "{session:?}");
    let url = format!("/api/v2/sessions/{}", session.id);
    let pending: Session =
        answer(server.as_tenant("acme", Method::GET, &url), StatusCode::OK).await;
    assert_eq!(pending.status, SessionStatus::Pending, "{pending:?}");
    // The session's own deadline is the event under test: wait for that moment, once.
    let timeout_at = pending.timeout_at;
    let left = (timeout_at - chrono::Utc::now())
        .to_std()
        .unwrap_or_default();
    tokio::time::sleep_until(
        tokio::time::Instant::now() + left + std::time::Duration::from_millis(50),
    )
    .await;
    let s: Session = answer(server.as_tenant("acme", Method::GET, &url), StatusCode::OK).await;
    assert_eq!(s.status, SessionStatus::Failed, "{s:?}");
    assert_eq!(
        s.error.as_deref(),
        Some("timed out before every target reported"),
        "{s:?}"
    );
    let failed: Page<Session> = answer(
        server.as_tenant("acme", Method::GET, "/api/v2/sessions?status=failed"),
        StatusCode::OK,
    )
    .await;
    assert_eq!(failed.items.len(), 1, "{failed:?}");
}
