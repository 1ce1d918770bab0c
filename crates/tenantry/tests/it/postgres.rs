//! What only PostgreSQL has: placement across instances, schema-mode connection reuse,
//! instances going down, and start-up checks of the placement.

use reqwest::{Method, StatusCode};
use serde_json::json;

use tenantry_proto::{Host, Instance, Isolation, Page, Tenant, TenantStatus};

use crate::support::{Mode, PgEnv, TestServer, answer, call, expect_problem, run, text};

async fn create(server: &TestServer, body: serde_json::Value) -> Tenant {
    answer(
        server.op(Method::POST, "/api/v1/tenants").json(&body),
        StatusCode::CREATED,
    )
    .await
}

#[tokio::test]
async fn placement_follows_instance_region_and_labels() {
    let server = TestServer::start_on(Mode::PgDatabase);
    let t = create(&server, json!({ "slug": "named", "instance": "us1" })).await;
    assert_eq!(t.placement.instance, "us1");
    let t = create(
        &server,
        json!({ "slug": "by-region", "placement": { "region": "eu-west" } }),
    )
    .await;
    assert_eq!(t.placement.instance, "eu1");
    let t = create(
        &server,
        json!({ "slug": "by-label", "placement": { "labels": { "jurisdiction": "us" } } }),
    )
    .await;
    assert_eq!(t.placement.instance, "us1");
    // Mixed isolation on one deployment: a schema tenant beside database tenants.
    let t = create(
        &server,
        json!({ "slug": "in-schema", "isolation": "schema", "instance": "eu1" }),
    )
    .await;
    assert_eq!(t.isolation, Isolation::Schema);
    server.create_host("in-schema", "s1").await;
    server.create_host("named", "d1").await;
    assert_eq!(server.stored_hostnames("in-schema").await, ["s1"]);
    assert_eq!(server.stored_hostnames("named").await, ["d1"]);
    let stores = server.physical_tenants().await;
    for expected in [
        "us1/t_named",
        "eu1/t_by_region",
        "us1/t_by_label",
        "eu1/tenantry_pool/t_in_schema",
    ] {
        assert!(
            stores.contains(&expected.to_owned()),
            "{expected} missing from {stores:?}"
        );
    }

    // Without constraints, the least loaded instance wins.
    let instances: Vec<Instance> =
        answer(server.op(Method::GET, "/api/v1/instances"), StatusCode::OK).await;
    let named = |name: &str| instances.iter().find(|i| i.name == name);
    let count = |name: &str| named(name).map_or(0, |i| i.tenants);
    let (eu, us) = (count("eu1"), count("us1"));
    assert_eq!(eu + us, 5, "{instances:?}");
    let t = create(&server, json!({ "slug": "anywhere" })).await;
    let expected = if eu <= us { "eu1" } else { "us1" };
    assert_eq!(t.placement.instance, expected, "{instances:?}");
    let eu1 = named("eu1").unwrap_or_else(|| panic!("no eu1 in {instances:?}"));
    assert_eq!(eu1.region, "eu-west");
    assert_eq!(
        eu1.labels.get("jurisdiction").map(String::as_str),
        Some("eu")
    );

    // Constraints nothing satisfies are refused, naming the constraint, and create nothing.
    let before = server.physical_tenants().await;
    let p = expect_problem(
        server
            .op(Method::POST, "/api/v1/tenants")
            .json(&json!({ "slug": "nowhere", "placement": { "region": "eu-west", "labels": { "jurisdiction": "us" } } })),
        StatusCode::UNPROCESSABLE_ENTITY,
        "no_instance_matches",
    )
    .await;
    let detail = p.detail.as_str();
    assert!(
        detail.contains("eu-west") && detail.contains("jurisdiction=us"),
        "{detail}"
    );
    expect_problem(
        server
            .op(Method::POST, "/api/v1/tenants")
            .json(&json!({ "slug": "nowhere", "instance": "mars1" })),
        StatusCode::UNPROCESSABLE_ENTITY,
        "no_instance_matches",
    )
    .await;
    expect_problem(
        server
            .op(Method::POST, "/api/v1/tenants")
            .json(&json!({ "slug": "nowhere", "isolation": "file" })),
        StatusCode::UNPROCESSABLE_ENTITY,
        "isolation_unsupported",
    )
    .await;
    expect_problem(
        server.op(Method::POST, "/api/v1/tenants").json(
            &json!({ "slug": "nowhere", "instance": "eu1", "placement": { "region": "eu-west" } }),
        ),
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(server.physical_tenants().await, before);
    expect_problem(
        server.op(Method::GET, "/api/v1/tenants/nowhere"),
        StatusCode::NOT_FOUND,
        "tenant_not_found",
    )
    .await;
}

#[tokio::test]
async fn schema_tenants_share_connections_but_never_see_each_other() {
    // One connection per instance pool: every request reuses the same session.
    let server = TestServer::builder()
        .mode(Mode::PgSchema)
        .env("TENANTRY_POOLS__PER_INSTANCE", "1")
        .start();
    create(&server, json!({ "slug": "acme", "instance": "eu1" })).await;
    create(&server, json!({ "slug": "beta", "instance": "eu1" })).await;
    for round in 0..3 {
        server.create_host("acme", &format!("a{round}")).await;
        assert_eq!(
            server.hostnames("beta").await.len(),
            round,
            "beta saw acme's hosts"
        );
        server.create_host("beta", &format!("b{round}")).await;
        let acme = server.hostnames("acme").await;
        assert!(acme.iter().all(|h| h.starts_with('a')), "{acme:?}");
    }
    assert_eq!(server.stored_hostnames("acme").await, ["a0", "a1", "a2"]);
    assert_eq!(server.stored_hostnames("beta").await, ["b0", "b1", "b2"]);
    // It really was one session serving both tenants.
    let pg = server.pg.clone().unwrap_or_else(|| panic!("no clusters"));
    let sessions = crate::support::pg_count(
        &pg.instance("eu1").url("postgres"),
        "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'tenantry'",
        "tenantry_pool",
    )
    .await;
    assert_eq!(sessions, 1, "requests did not share one pooled connection");
}

#[tokio::test]
async fn an_instance_going_down_affects_only_its_tenants() {
    let server = TestServer::builder()
        .mode(Mode::PgDatabase)
        .env("TENANTRY_POOLS__ACQUIRE_TIMEOUT", "1s")
        .start();
    create(&server, json!({ "slug": "on-eu", "instance": "eu1" })).await;
    create(&server, json!({ "slug": "on-us", "instance": "us1" })).await;
    server.create_host("on-us", "before").await;
    let pg = server.pg.clone().unwrap_or_else(|| panic!("no clusters"));

    pg.instance("us1").stop();
    let p = expect_problem(
        server
            .op(Method::POST, "/api/v1/tenants")
            .json(&json!({ "slug": "doomed", "instance": "us1" })),
        StatusCode::SERVICE_UNAVAILABLE,
        "instance_unavailable",
    )
    .await;
    assert!(p.detail.as_str().contains("us1"), "{p}");
    let t: Tenant = answer(
        server.op(Method::GET, "/api/v1/tenants/doomed"),
        StatusCode::OK,
    )
    .await;
    assert_ne!(
        t.status,
        TenantStatus::Active,
        "a failed create left an active tenant: {t:?}"
    );
    // Tenants elsewhere are served; the down instance's tenants get a clear 503.
    server.create_host("on-eu", "still-fine").await;
    assert_eq!(server.hostnames("on-eu").await, ["still-fine"]);
    expect_problem(
        server
            .as_tenant("on-us", Method::POST, "/api/v1/hosts")
            .json(&json!({ "hostname": "x" })),
        StatusCode::SERVICE_UNAVAILABLE,
        "instance_unavailable",
    )
    .await;

    // Still down at the next start: the server starts all the same (an instance that may
    // come back is not a configuration error) and serves the other instance's tenants.
    let key = server.key().to_owned();
    let data = server.stop();
    let server = TestServer::builder()
        .mode(Mode::PgDatabase)
        .env("TENANTRY_POOLS__ACQUIRE_TIMEOUT", "1s")
        .pg(&pg)
        .data_dir(&data)
        .api_key(&key)
        .start();
    assert_eq!(server.hostnames("on-eu").await, ["still-fine"]);

    // Back up: its tenants are served again and the failed create can be retried after the
    // next start finishes the rollback.
    pg.instance("us1").resume();
    let data = server.stop();
    let server = TestServer::builder()
        .mode(Mode::PgDatabase)
        .pg(&pg)
        .data_dir(&data)
        .api_key(&key)
        .start();
    assert_eq!(server.hostnames("on-us").await, ["before"]);
    expect_problem(
        server.op(Method::GET, "/api/v1/tenants/doomed"),
        StatusCode::NOT_FOUND,
        "tenant_not_found",
    )
    .await;
    let t = create(&server, json!({ "slug": "doomed", "instance": "us1" })).await;
    assert_eq!(t.status, TenantStatus::Active);
}

#[tokio::test]
async fn a_tenant_on_an_unconfigured_instance_stops_the_server() {
    let pg = PgEnv::start();
    let server = TestServer::builder().mode(Mode::PgDatabase).pg(&pg).start();
    create(&server, json!({ "slug": "on-us", "instance": "us1" })).await;
    let data = server.stop();
    // The same registry, but us1 is gone from the configuration.
    let config = data.join("without-us1.yaml");
    let yaml = format!(
        "registry:\n  url: {}\nallow_shared_credentials: true\nisolation:\n  default: database\ninstances:\n  eu1:\n    url: {}\n",
        pg.registry.url("tenantry_registry"),
        pg.instance("eu1").url("postgres")
    );
    std::fs::write(&config, yaml).unwrap_or_else(|e| panic!("{e}"));
    let data_s = data.display().to_string();
    let config_s = config.display().to_string();
    let out = run(
        &["serve", "--config", &config_s],
        &[
            ("TENANTRY_DATA_DIR", &data_s),
            ("TENANTRY_SERVER__LISTEN", "127.0.0.1:0"),
        ],
    );
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("instances.us1") && stderr.contains("on-us"),
        "{stderr}"
    );
}

#[tokio::test]
async fn collapsed_mode_keeps_all_three_chains_in_the_registry_database() {
    let pg = PgEnv::start();
    let dir = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
    let config = dir.path().join("collapsed.yaml");
    std::fs::write(
        &config,
        format!("registry:\n  url: {}\nisolation:\n  default: database\nmultitenancy:\n  enabled: false\n", pg.registry.url("solo")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let server = TestServer::builder()
        .env("TENANTRY_CONFIG", &config.display().to_string())
        .start();
    let (status, host) = call(
        server
            .op(Method::POST, "/api/v1/hosts")
            .json(&json!({ "hostname": "only" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{host}");
    expect_problem(
        server.op(Method::GET, "/api/v1/tenants"),
        StatusCode::CONFLICT,
        "multitenancy_disabled",
    )
    .await;
    let registry = pg.registry.url("solo");
    for table in [
        "_tenantry_registry_migrations",
        "_tenantry_shared_migrations",
        "_tenantry_tenant_migrations",
        "registry_tenants",
        "shared_options",
        "hosts",
    ] {
        let n = crate::support::pg_count(
            &registry,
            "SELECT COUNT(*) FROM pg_tables WHERE tablename = $1",
            table,
        )
        .await;
        assert_eq!(n, 1, "{table} is not in the one database");
    }
    let n = crate::support::pg_count(
        &registry,
        "SELECT COUNT(*) FROM hosts WHERE hostname = $1",
        "only",
    )
    .await;
    assert_eq!(n, 1);
}

/// Asks `check` (a real request each time, which paces the loop) until it holds or `limit`
/// passes; returns how long it took.
async fn within(
    limit: std::time::Duration,
    mut check: impl AsyncFnMut() -> bool,
) -> Option<std::time::Duration> {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return Some(start.elapsed());
        }
    }
    None
}

#[tokio::test]
async fn a_change_made_through_one_server_reaches_the_other_within_a_second() {
    let pg = PgEnv::start();
    let key = crate::support::new_key();
    let a = TestServer::builder()
        .mode(Mode::PgDatabase)
        .pg(&pg)
        .api_key(&key)
        .env("TENANTRY_ROUTING__RELOAD_INTERVAL", "1h")
        .start();
    // B's safety-net reload is an hour away: only the notification can explain a change.
    let b = TestServer::builder()
        .mode(Mode::PgDatabase)
        .pg(&pg)
        .api_key(&key)
        .env("TENANTRY_ROUTING__RELOAD_INTERVAL", "1h")
        .start();
    expect_problem(
        b.as_tenant("acme", Method::GET, "/api/v1/hosts"),
        StatusCode::NOT_FOUND,
        "tenant_not_found",
    )
    .await;

    let a_reloads = a.metric("tenantry_routing_full_reloads_total").await;
    let b_reloads = b.metric("tenantry_routing_full_reloads_total").await;
    create(&a, json!({ "slug": "acme" })).await;
    let seen = within(std::time::Duration::from_secs(1), async || {
        b.as_tenant("acme", Method::GET, "/api/v1/hosts")
            .send()
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK)
    })
    .await;
    assert!(
        seen.is_some(),
        "server B did not serve the new tenant within 1 s"
    );
    b.create_host("acme", "via-b").await;
    assert_eq!(a.hostnames("acme").await, ["via-b"]);

    let (status, _) = call(a.op(Method::DELETE, "/api/v1/tenants/acme")).await;
    assert_eq!(status, StatusCode::OK);
    let refused = within(std::time::Duration::from_secs(1), async || {
        b.as_tenant("acme", Method::GET, "/api/v1/hosts")
            .send()
            .await
            .is_ok_and(|r| r.status() == StatusCode::NOT_FOUND)
    })
    .await;
    assert!(
        refused.is_some(),
        "server B still served the deleted tenant after 1 s"
    );
    // B re-read the catalog for A's announcements; A did not re-read it for its own (it
    // published each change to its snapshot before announcing it).
    assert!(b.metric("tenantry_routing_full_reloads_total").await > b_reloads);
    assert_eq!(
        a.metric("tenantry_routing_full_reloads_total").await,
        a_reloads,
        "server A re-read the whole catalog for its own announcements"
    );
}

/// The newest tenant-chain version recorded inside a database (or schema).
async fn pg_tenant_version(url: &str, schema: Option<&str>) -> Result<i64, String> {
    use sqlx::{ConnectOptions, Connection};
    let options: sqlx::postgres::PgConnectOptions = url.parse().map_err(|e| format!("{e}"))?;
    let mut conn = options.connect().await.map_err(|e| format!("{e}"))?;
    let table = match schema {
        Some(s) => format!("\"{s}\"._tenantry_tenant_migrations"),
        None => "_tenantry_tenant_migrations".to_owned(),
    };
    let sql = format!("SELECT MAX(version) FROM {table} WHERE success");
    let v: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_one(&mut conn)
        .await
        .map_err(|e| format!("{e}"))?;
    let _ = conn.close().await;
    Ok(v.unwrap_or(0))
}

#[tokio::test]
async fn migrate_fans_out_over_templates_and_both_isolation_modes() {
    let pg = PgEnv::start();
    let key = crate::support::new_key();
    let server = TestServer::builder()
        .mode(Mode::PgDatabase)
        .pg(&pg)
        .api_key(&key)
        .start();
    let env_owned = server.command_env();
    create(&server, json!({ "slug": "db-eu", "instance": "eu1" })).await;
    create(&server, json!({ "slug": "db-us", "instance": "us1" })).await;
    create(
        &server,
        json!({ "slug": "sc-eu", "instance": "eu1", "isolation": "schema" }),
    )
    .await;
    create(
        &server,
        json!({ "slug": "sc-us", "instance": "us1", "isolation": "schema" }),
    )
    .await;
    create(
        &server,
        json!({ "slug": "broken", "instance": "us1", "isolation": "schema" }),
    )
    .await;
    let _kept = server.stop();
    let env: Vec<(&str, &str)> = env_owned
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();

    let out = run(&["migrate", "--status"], &env);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    crate::migrate::assert_all_current(
        &stdout,
        &[
            "registry",
            "shared",
            "template eu1",
            "template us1",
            "tenant db-eu",
            "tenant sc-us",
            "tenant default",
        ],
    );

    // One tenant's schema is gone behind our back; a new migration arrives.
    let pool_us = pg.instance("us1").url("tenantry_pool");
    let out = std::process::Command::new("runuser")
        .args([
            "-u",
            "postgres",
            "--",
            "psql",
            &pool_us,
            "-qc",
            "DROP SCHEMA t_broken CASCADE",
        ])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let scratch = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
    let migrations = crate::migrate::migrations_with_extra_tenant_migration(scratch.path());
    let migrations_s = migrations.display().to_string();
    let mut env2 = env.clone();
    env2.push(("TENANTRY_MIGRATIONS__DIR", &migrations_s));

    let out = run(&["migrate", "--concurrency", "3"], &env2);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}{stderr}", text(&out.stdout));
    assert!(
        stderr.contains("migration failed for: tenant broken"),
        "{stderr}"
    );
    let eu = pg.instance("eu1");
    let us = pg.instance("us1");
    assert_eq!(
        pg_tenant_version(&eu.url("t_db_eu"), None).await,
        Ok(crate::migrate::extra())
    );
    assert_eq!(
        pg_tenant_version(&us.url("t_db_us"), None).await,
        Ok(crate::migrate::extra())
    );
    assert_eq!(
        pg_tenant_version(&eu.url("tenantry_pool"), Some("t_sc_eu")).await,
        Ok(crate::migrate::extra())
    );
    assert_eq!(
        pg_tenant_version(&us.url("tenantry_pool"), Some("t_sc_us")).await,
        Ok(crate::migrate::extra())
    );
    assert_eq!(
        pg_tenant_version(&eu.url("tenantry_template"), None).await,
        Ok(crate::migrate::extra())
    );
    assert_eq!(
        pg_tenant_version(&us.url("tenantry_template"), None).await,
        Ok(crate::migrate::extra())
    );

    // Up-to-date tenants are skipped by the registry's record; --verify opens them anyway.
    let out = run(&["migrate"], &env2);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("tenant sc-eu (tenant): skipped"),
        "{stdout}"
    );
    let out = run(&["migrate", "--verify", "--tenant", "sc-eu"], &env2);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "tenant sc-eu (tenant): current at {}",
            crate::migrate::extra()
        )),
        "{stdout}"
    );

    // A tenant created after the migration starts at the extra migration's version in both modes.
    let server = TestServer::builder()
        .mode(Mode::PgDatabase)
        .pg(&pg)
        .api_key(&key)
        .env("TENANTRY_MIGRATIONS__DIR", &migrations_s)
        .start();
    let t = create(&server, json!({ "slug": "late-db", "instance": "eu1" })).await;
    assert_eq!(t.tenant_chain_version, Some(crate::migrate::extra()));
    let t = create(
        &server,
        json!({ "slug": "late-sc", "instance": "eu1", "isolation": "schema" }),
    )
    .await;
    assert_eq!(t.tenant_chain_version, Some(crate::migrate::extra()));
    assert_eq!(
        pg_tenant_version(&eu.url("tenantry_pool"), Some("t_late_sc")).await,
        Ok(crate::migrate::extra())
    );
}

#[tokio::test]
async fn tenant_connections_never_exceed_the_budget() {
    let server = TestServer::builder()
        .mode(Mode::PgDatabase)
        .env("TENANTRY_POOLS__MAX_CONNECTIONS", "4")
        .env("TENANTRY_POOLS__PER_TENANT", "2")
        .env("TENANTRY_POOLS__PER_INSTANCE", "2")
        // The bound is what is tested, not latency: waiting for budget under a loaded CI
        // machine may take a while.
        .env("TENANTRY_POOLS__ACQUIRE_TIMEOUT", "15s")
        .start();
    let slugs: Vec<String> = (0..6).map(|i| format!("t{i}")).collect();
    for slug in &slugs {
        create(&server, json!({ "slug": slug })).await;
        server.create_host(slug, &format!("{slug}-host")).await;
    }
    let pg = server.pg.clone().unwrap_or_else(|| panic!("no clusters"));
    let urls: Vec<String> = pg
        .instances
        .iter()
        .map(|(.., c)| c.url("postgres"))
        .collect();

    // Count sessions on tenant databases while requests spread over every tenant.
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = std::sync::Arc::clone(&sampling);
    let sampler = tokio::spawn(async move {
        let mut peak = 0;
        while flag.load(std::sync::atomic::Ordering::Relaxed) {
            let mut now = 0;
            for url in &urls {
                now += crate::support::pg_count(
                    url,
                    "SELECT COUNT(*) FROM pg_stat_activity WHERE datname LIKE $1",
                    "t\\_%",
                )
                .await;
            }
            peak = peak.max(now);
        }
        peak
    });
    let mut rounds = Vec::new();
    for round in 0..4 {
        for slug in &slugs {
            let req = server.as_tenant(slug, Method::GET, "/api/v1/hosts");
            let expect = format!("{slug}-host");
            rounds.push(async move {
                let page: Page<Host> = answer(req, StatusCode::OK).await;
                assert_eq!(page.items[0].hostname, expect, "round {round}");
            });
        }
    }
    futures_util::future::join_all(rounds).await;
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let peak = sampler.await.unwrap_or(i64::MAX);
    assert!(
        peak <= 4,
        "{peak} connections open to tenant databases; the budget is 4"
    );
    assert!(peak >= 1, "the sampler saw no tenant connection at all");

    assert!(server.metric("tenantry_tenant_connections_open").await <= 4);
    assert_eq!(server.metric("tenantry_tenant_connection_budget").await, 4);
    let evictions = server.metric("tenantry_tenant_pool_evictions_total").await;
    assert!(
        evictions >= 4,
        "pools were not recycled: {evictions} evictions"
    );
}
