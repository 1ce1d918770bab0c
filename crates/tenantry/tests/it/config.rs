//! Bad configuration stops the server at start with a message naming the key.

use crate::support::{run, run_to_refusal, text};

fn serve_fails_naming(env: &[(&str, &str)], yaml: Option<&str>, key: &str) {
    let dir = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("data").display().to_string();
    let config = dir.path().join("tenantry.yaml");
    let config_s = config.display().to_string();
    let mut all: Vec<(&str, &str)> = vec![
        ("TENANTRY_DATA_DIR", &data),
        ("TENANTRY_SERVER__LISTEN", "127.0.0.1:0"),
    ];
    all.extend_from_slice(env);
    let mut args = vec!["serve"];
    if let Some(yaml) = yaml {
        std::fs::write(&config, yaml).unwrap_or_else(|e| panic!("{e}"));
        args.extend(["--config", &config_s]);
    }
    let out = run_to_refusal(&args, &all);
    let stderr = text(&out.stderr);
    assert!(
        !out.status.success(),
        "started with bad config {env:?} {yaml:?}"
    );
    assert!(
        stderr.contains(key),
        "message does not name `{key}`: {stderr}"
    );
    assert!(
        !std::path::Path::new(&data).join("registry.db").exists(),
        "created state before refusing"
    );
}

#[test]
fn unknown_keys_bad_values_and_contradictions_are_refused() {
    serve_fails_naming(&[], Some("server:\n  lisen: 127.0.0.1:0\n"), "server.lisen");
    serve_fails_naming(&[], Some("colour: blue\n"), "colour");
    serve_fails_naming(&[("TENANTRY_SERVR__LISTEN", "x")], None, "servr");
    serve_fails_naming(
        &[("TENANTRY_SERVER__LISTEN", "not-an-address")],
        None,
        "server.listen",
    );
    serve_fails_naming(
        &[("TENANTRY_ROUTING__UNMATCHED", "sometimes")],
        None,
        "routing.unmatched",
    );
    serve_fails_naming(&[("TENANTRY_LOG__FORMAT", "xml")], None, "log.format");
    serve_fails_naming(
        &[("TENANTRY_ADMIN__API_KEY", "tnt_short")],
        None,
        "admin.api_key",
    );
    serve_fails_naming(
        &[("TENANTRY_MULTITENANCY__ENABLED", "maybe")],
        None,
        "multitenancy.enabled",
    );
    serve_fails_naming(
        &[],
        Some("isolation:\n  default: database\n"),
        "isolation.default",
    );
    serve_fails_naming(
        &[
            ("TENANTRY_MULTITENANCY__ENABLED", "false"),
            ("TENANTRY_ROUTING__BASE_DOMAIN", "t.example.com"),
        ],
        None,
        "routing.base_domain",
    );
    serve_fails_naming(
        &[("TENANTRY_POOLS__IDLE_TIMEOUT", "5 fortnights")],
        None,
        "pools.idle_timeout",
    );
    // A pool larger than the whole budget could never open: both keys are named.
    for key in ["pools.max_connections", "pools.per_instance"] {
        serve_fails_naming(
            &[
                ("TENANTRY_POOLS__MAX_CONNECTIONS", "8"),
                ("TENANTRY_POOLS__PER_INSTANCE", "16"),
            ],
            None,
            key,
        );
    }
    serve_fails_naming(
        &[("TENANTRY_POOLS__PER_TENANT", "0")],
        None,
        "pools.per_tenant",
    );
    for (env, key) in [
        (("TENANTRY_CACHE__URL", "http://redis:6379"), "cache.url"),
        (("TENANTRY_MEDIA__URL", "ftp://files/media"), "media.url"),
        (("TENANTRY_MEDIA__URL", "file://relative/path"), "media.url"),
        (
            ("TENANTRY_MEDIA__UPLOADS_PER_TENANT", "0"),
            "media.uploads_per_tenant",
        ),
        (
            ("TENANTRY_MEDIA__S3__NOT_A_SETTING", "x"),
            "media.s3.not_a_setting",
        ),
    ] {
        serve_fails_naming(&[env], None, key);
    }
    // A CA file for Redis applies to TLS only.
    serve_fails_naming(
        &[
            ("TENANTRY_CACHE__URL", "redis://127.0.0.1:1"),
            ("TENANTRY_CACHE__CA_FILE", "/etc/ssl/ca.pem"),
        ],
        None,
        "cache.ca_file",
    );
}

#[test]
fn postgres_settings_are_checked_before_connecting() {
    let pg = "postgres://tenantry@127.0.0.1:1/registry";
    // Multi-tenancy on PostgreSQL needs somewhere to put tenants, and a credential decision.
    serve_fails_naming(
        &[
            ("TENANTRY_REGISTRY__URL", pg),
            ("TENANTRY_ISOLATION__DEFAULT", "database"),
        ],
        None,
        "instances",
    );
    serve_fails_naming(
        &[],
        Some(&format!(
            "registry:\n  url: {pg}\nisolation:\n  default: schema\ninstances:\n  eu1:\n    url: {pg}\n"
        )),
        "allow_shared_credentials",
    );
    // The embedded backend has no instances, no shared database and only file isolation.
    serve_fails_naming(
        &[],
        Some(&format!("instances:\n  eu1:\n    url: {pg}\n")),
        "instances",
    );
    serve_fails_naming(&[("TENANTRY_SHARED__URL", pg)], None, "shared.url");
    serve_fails_naming(&[("TENANTRY_REGISTRY__URL", pg)], None, "isolation.default");
    // Bad URLs are named without repeating them (they may hold a password).
    serve_fails_naming(
        &[("TENANTRY_REGISTRY__URL", "mysql://root:hunter2@db/x")],
        None,
        "registry.url",
    );
    serve_fails_naming(
        &[],
        Some(&format!(
            "registry:\n  url: {pg}\nallow_shared_credentials: true\nisolation:\n  default: database\ninstances:\n  Bad_Name:\n    url: {pg}\n"
        )),
        "instances.Bad_Name",
    );
    serve_fails_naming(
        &[],
        Some(&format!(
            "registry:\n  url: {pg}\nallow_shared_credentials: true\nisolation:\n  default: database\ninstances:\n  eu1:\n    url: {pg}\n    zone: a\n"
        )),
        "instances.eu1.zone",
    );
    let dir = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().display().to_string();
    let out = run(
        &["serve"],
        &[
            ("TENANTRY_DATA_DIR", &data),
            ("TENANTRY_REGISTRY__URL", "mysql://root:hunter2@db/x"),
        ],
    );
    assert!(
        !text(&out.stderr).contains("hunter2"),
        "a password reached the output"
    );
}

#[test]
fn a_missing_config_file_is_an_error() {
    let out = run(&["serve", "--config", "/nonexistent/tenantry.yaml"], &[]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("does not exist"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn secrets_never_reach_the_output() {
    let key = crate::support::new_key();
    // A bad value elsewhere makes the server print its error; the key must not appear.
    let out = run(
        &["serve"],
        &[
            ("TENANTRY_ADMIN__API_KEY", &key),
            ("TENANTRY_SERVER__LISTEN", "nonsense"),
        ],
    );
    assert!(!out.status.success());
    assert!(!text(&out.stderr).contains(&key) && !text(&out.stdout).contains(&key));
}

/// A key is named as the user wrote it, once (`queue`, not `queue.queue`).
#[test]
fn unknown_keys_are_named_as_written() {
    for (env, yaml, named) in [
        (None, Some("queue:\n  url: redis://x\n"), "`queue`"),
        (None, Some("registry:\n  urll: x\n"), "`registry.urll`"),
        (
            Some(("TENANTRY_REGISTRY__URLL", "x")),
            None,
            "`registry.urll`",
        ),
        (Some(("TENANTRY_SERVR__LISTEN", "x")), None, "`servr`"),
    ] {
        let env: Vec<(&str, &str)> = env.into_iter().collect();
        serve_fails_naming(&env, yaml, named);
    }
}

/// Other tools' `TENANTRY_*` variables (the test harness's `TENANTRY_BIN`, say) are not
/// keys: the server starts, and says at start which it ignored.
#[test]
fn variables_that_name_no_key_are_reported_not_refused() {
    let server = crate::support::TestServer::builder()
        .env("TENANTRY_BIN", "/usr/local/bin/tenantry")
        .start();
    let warned = server.log_lines().into_iter().any(|line| {
        line["variable"] == "TENANTRY_BIN"
            && line["message"]
                .as_str()
                .is_some_and(|m| m.contains("ignored"))
    });
    assert!(
        warned,
        "no warning naming TENANTRY_BIN: {:?}",
        server.log_lines()
    );
}
