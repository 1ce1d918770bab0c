//! The CLI against a running server.

use tenantry_proto::{Domain, Plan, Tenant, TenantStatus};

use crate::support::{TestServer, run, text};

fn cli(server: &TestServer, args: &[&str]) -> (bool, String, String) {
    let out = run(
        args,
        &[
            ("TENANTRY_SERVER_URL", &server.url),
            ("TENANTRY_API_KEY", server.key()),
        ],
    );
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

/// The CLI's `--output json`, read as the API type it prints.
fn json<T: serde::de::DeserializeOwned>(stdout: &str) -> T {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not the expected JSON ({e}): {stdout}"))
}

#[tokio::test]
async fn tenants_and_domains_commands() {
    let server = TestServer::start();

    let (ok, out, err) = cli(
        &server,
        &["tenants", "create", "acme", "--display-name", "Acme Inc"],
    );
    assert!(ok, "{err}");
    assert!(
        out.starts_with("SLUG")
            && out.contains("acme")
            && out.contains("Acme Inc")
            && out.contains("active"),
        "{out}"
    );

    let (ok, out, _) = cli(&server, &["tenants", "list", "--output", "json"]);
    assert!(ok);
    let slugs: Vec<String> = json::<Vec<Tenant>>(&out)
        .into_iter()
        .map(|t| t.slug)
        .collect();
    assert_eq!(slugs, ["acme", "default"]);

    let (ok, out, _) = cli(&server, &["tenants", "suspend", "acme", "-o", "json"]);
    assert!(ok);
    assert_eq!(json::<Tenant>(&out).status, TenantStatus::Suspended);
    let (ok, out, _) = cli(&server, &["tenants", "resume", "acme", "-o", "json"]);
    assert!(ok);
    assert_eq!(json::<Tenant>(&out).status, TenantStatus::Active);
    let (ok, out, _) = cli(&server, &["tenants", "show", "acme", "-o", "json"]);
    assert!(ok);
    assert_eq!(json::<Tenant>(&out).display_name, "Acme Inc");

    let (ok, out, err) = cli(&server, &["domains", "add", "acme", "fleet.acme.com"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("fleet.acme.com now routes to tenant acme"),
        "{out}"
    );
    let (ok, out, _) = cli(&server, &["domains", "list", "acme", "-o", "json"]);
    assert!(ok);
    assert_eq!(json::<Vec<Domain>>(&out)[0].domain, "fleet.acme.com");
    let (ok, _, _) = cli(&server, &["domains", "remove", "acme", "fleet.acme.com"]);
    assert!(ok);

    // Errors are the server's message and code, with a non-zero exit.
    let (ok, _, err) = cli(&server, &["tenants", "create", "Bad--Slug"]);
    assert!(!ok);
    assert!(
        err.contains("invalid_slug") && err.contains("2 to 40 characters"),
        "{err}"
    );
    let (ok, _, err) = cli(&server, &["tenants", "delete", "default", "--yes"]);
    assert!(!ok);
    assert!(err.contains("tenant_protected"), "{err}");

    // Delete needs confirmation; without a terminal, --yes.
    let (ok, _, err) = cli(&server, &["tenants", "delete", "acme"]);
    assert!(!ok);
    assert!(err.contains("--yes"), "{err}");
    assert!(
        server.tenant_db("acme").is_file(),
        "deleted without confirmation"
    );
    let (ok, out, err) = cli(&server, &["tenants", "delete", "acme", "--yes"]);
    assert!(ok, "{err}");
    assert!(out.contains("purge verified: true"), "{out}");
    assert!(!server.tenant_db("acme").exists());
}

#[tokio::test]
async fn plans_commands() {
    let server = TestServer::start();
    let (ok, out, err) = cli(
        &server,
        &["plans", "set", "small", r#"{"requests_per_second": 5}"#],
    );
    assert!(ok, "{err}");
    assert!(
        out.contains(r#"plan small: {"requests_per_second":5}"#),
        "{out}"
    );
    let (ok, _, err) = cli(&server, &["tenants", "create", "acme", "--plan", "small"]);
    assert!(ok, "{err}");
    let (ok, out, _) = cli(&server, &["plans", "list", "-o", "json"]);
    assert!(ok);
    let plans: Vec<Plan> = json(&out);
    assert_eq!(
        plans
            .iter()
            .map(|p| (p.name.as_str(), p.tenants))
            .collect::<Vec<_>>(),
        [("small", 1)]
    );
    let (ok, _, err) = cli(&server, &["plans", "remove", "small"]);
    assert!(!ok);
    assert!(err.contains("plan_in_use"), "{err}");
    let (ok, _, err) = cli(&server, &["plans", "set", "small", "{not json"]);
    assert!(!ok);
    assert!(err.contains("JSON"), "{err}");
}

#[tokio::test]
async fn cli_without_key_or_server_explains() {
    let out = run(&["tenants", "list"], &[]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("TENANTRY_API_KEY"),
        "{}",
        text(&out.stderr)
    );
    let out = run(
        &["tenants", "list", "--server", "http://127.0.0.1:9"],
        &[("TENANTRY_API_KEY", &crate::support::new_key())],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("cannot reach the server"),
        "{}",
        text(&out.stderr)
    );
}
