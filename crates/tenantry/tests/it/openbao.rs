//! OpenBAO as the credential broker, against a real `bao server -dev` and real clusters:
//! provision-bootstrap, per-tenant logins that reach only their own tenant, schema-pool
//! logins that act as one tenant per checkout, no OpenBAO call
//! on the request path, renewal and replacement of leases, OpenBAO going away, and the
//! purge leaving nothing behind in PostgreSQL or OpenBAO.

use std::sync::Arc;
use std::time::{Duration, Instant};
use tenantry_proto::{PurgeReport, Tenant, TenantStatus};

use reqwest::{Method, StatusCode};
use sqlx::Connection;

use crate::support::{
    Mode, PgEnv, TestServer, answer, call, expect_problem, pg_count, pg_exec, text,
};

fn start(pg: &Arc<PgEnv>, mode: Mode, env: &[(&str, &str)]) -> TestServer {
    let mut builder = TestServer::builder().mode(mode).pg(pg);
    for (k, v) in env {
        builder = builder.env(k, v);
    }
    builder.start()
}

/// A fresh login from an OpenBAO role (`tenant-<slug>`, `router-<instance>`), straight from
/// OpenBAO, as an attacker holding one would have it.
async fn issued_login(pg: &PgEnv, bao_role: &str) -> (String, String) {
    let (status, body) = pg
        .bao_call("GET", &format!("database/creds/{bao_role}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (
        body["data"]["username"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        body["data"]["password"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

async fn connect_as(
    port: u16,
    database: &str,
    (user, password): &(String, String),
) -> Result<sqlx::PgConnection, sqlx::Error> {
    let options = sqlx::postgres::PgConnectOptions::new()
        .host("127.0.0.1")
        .port(port)
        .username(user)
        .password(password)
        .database(database);
    sqlx::PgConnection::connect_with(&options).await
}

async fn hostnames(conn: &mut sqlx::PgConnection, table: &str) -> Result<Vec<String>, sqlx::Error> {
    let sql = format!("SELECT hostname FROM {table} ORDER BY hostname");
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_all(conn)
        .await
}

/// `conn` reads alpha's hosts, whose table belongs to alpha's group role (never to a login
/// that will be dropped).
async fn assert_sees_alpha(conn: &mut sqlx::PgConnection) {
    assert_eq!(
        hostnames(conn, "hosts").await.ok(),
        Some(vec!["alpha-1".to_owned()])
    );
    let owner: String = sqlx::query_scalar(
        "SELECT tableowner::text FROM pg_tables WHERE tablename = 'hosts' AND schemaname = current_schema()",
    )
    .fetch_one(conn)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(owner, "t_alpha_rw");
}

fn code(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(d) => d.code().map(|c| c.into_owned()).unwrap_or_default(),
        other => format!("not a database error: {other}"),
    }
}

#[tokio::test]
async fn bootstrap_is_least_privileged_and_idempotent() {
    let pg = PgEnv::start_with_openbao();
    let first = &pg.bao().bootstrap_output;
    assert!(first.contains("created/updated"), "{first}");
    for (name, .., cluster) in &pg.instances {
        let url = cluster.url("postgres");
        let attrs = pg_count(
            &url,
            "SELECT count(*) FROM pg_roles WHERE rolname = $1 AND rolcanlogin AND rolcreatedb \
             AND rolcreaterole AND NOT rolsuper AND NOT rolreplication AND NOT rolbypassrls",
            "tenantry_provisioner",
        )
        .await;
        assert_eq!(attrs, 1, "instance {name}: the provisioner's attributes");
    }
    let (status, policy) = pg
        .bao_call("GET", "sys/policies/acl/tenantry-provisioner")
        .await;
    assert_eq!(status, StatusCode::OK);
    let policy = policy["data"]["policy"].as_str().unwrap_or_default();
    assert!(
        policy.contains("database/creds/tenant-*") && !policy.contains("\"sys/*\""),
        "{policy}"
    );

    let again = pg.bootstrap();
    let out = text(&again.stdout);
    assert!(again.status.success(), "{out}{}", text(&again.stderr));
    assert!(
        !out.contains("created/updated"),
        "a second run changed something:\n{out}"
    );
    assert!(out.contains("provision-bootstrap done: 0 of"), "{out}");
}

/// The server holds no superuser: instance URLs name the provisioner without a password.
#[tokio::test]
async fn tenant_logins_reach_only_their_own_tenant() {
    let pg = PgEnv::start_with_openbao();
    let server = start(&pg, Mode::PgDatabase, &[]);
    let instance = pg.instances[0].0;
    for slug in ["alpha", "bravo"] {
        server.create_tenant_on(slug, "database", instance).await;
        server.create_host(slug, &format!("{slug}-1")).await;
    }
    let cluster = pg.instance(instance);
    let alpha = issued_login(&pg, "tenant-alpha").await;
    let mut conn = connect_as(cluster.port, "t_alpha", &alpha)
        .await
        .unwrap_or_else(|e| panic!("alpha's login on its own database: {e}"));
    assert_sees_alpha(&mut conn).await;
    // Not bravo's database, nor the template, nor the schema-mode database.
    for foreign in ["t_bravo", "tenantry_template", "tenantry_pool"] {
        let refused = connect_as(cluster.port, foreign, &alpha).await;
        match refused {
            Err(e) => assert!(
                ["42501", "3D000"].contains(&code(&e).as_str()),
                "{foreign}: {e}"
            ),
            Ok(_) => panic!("alpha's login connected to {foreign}"),
        }
    }
    let _ = conn.close().await;
}

/// Schema tenants share one pool per instance (decision 0008): its logins hold no
/// tenant's privileges until a checkout sets one tenant's role, and can take no other
/// role than a tenant's.
#[tokio::test]
async fn schema_pool_logins_act_as_exactly_one_tenant_per_checkout() {
    let pg = PgEnv::start_with_openbao();
    // One connection for every schema tenant of the instance: each request reuses the
    // connection the other tenant's request just used.
    let server = start(
        &pg,
        Mode::PgSchema,
        &[("TENANTRY_POOLS__PER_INSTANCE", "1")],
    );
    let instance = pg.instances[0].0;
    for slug in ["alpha", "bravo"] {
        server.create_tenant_on(slug, "schema", instance).await;
        server.create_host(slug, &format!("{slug}-1")).await;
    }
    for round in 0..6 {
        let slug = ["alpha", "bravo"][round % 2];
        assert_eq!(server.hostnames(slug).await, vec![format!("{slug}-1")]);
    }
    // The server's connections to the schema database are router logins, not superusers
    // and not the provisioner.
    let cluster = pg.instance(instance);
    let server_logins = pg_count(
        &cluster.url("postgres"),
        "SELECT count(*) FROM pg_stat_activity a JOIN pg_roles r ON r.rolname = a.usename \
         WHERE a.datname = 'tenantry_pool' AND a.usename <> 'tenantry_provisioner' \
         AND pg_has_role(r.oid, $1, 'MEMBER') AND NOT r.rolsuper",
        "tenantry_router",
    )
    .await;
    assert_eq!(server_logins, 1, "the shared pool's one connection");
    assert_eq!(server.metric("tenantry_openbao_leases").await, 1);

    let login = issued_login(&pg, &format!("router-{instance}")).await;
    let mut conn = connect_as(cluster.port, "tenantry_pool", &login)
        .await
        .unwrap_or_else(|e| panic!("the router login on the schema database: {e}"));
    // Before a SET ROLE it reads no tenant.
    for table in ["t_alpha.hosts", "t_bravo.hosts"] {
        let e = hostnames(&mut conn, table)
            .await
            .err()
            .unwrap_or_else(|| panic!("the bare router login read {table}"));
        assert_eq!(code(&e), "42501", "{table}: {e}");
    }
    // As alpha it reads alpha's schema only.
    sqlx::raw_sql("SET ROLE t_alpha_rw; SET search_path TO t_alpha")
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_sees_alpha(&mut conn).await;
    let e = hostnames(&mut conn, "t_bravo.hosts")
        .await
        .err()
        .unwrap_or_else(|| panic!("acting as alpha, the router login read bravo's schema"));
    assert_eq!(code(&e), "42501", "{e}");
    // No role but a tenant's: not the provisioner, the template owner or a superuser.
    for role in ["tenantry_provisioner", "tenantry_owner", "postgres"] {
        let e = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("SET ROLE {role}")))
            .execute(&mut conn)
            .await
            .err()
            .unwrap_or_else(|| panic!("the router login became {role}"));
        assert_eq!(code(&e), "42501", "{role}: {e}");
    }
    let _ = conn.close().await;
    // Nor can it connect anywhere else that is Tenantry's.
    for database in ["tenantry_template"] {
        let e = connect_as(cluster.port, database, &login)
            .await
            .err()
            .unwrap_or_else(|| panic!("the router login connected to {database}"));
        assert_eq!(code(&e), "42501", "{database}: {e}");
    }
}

/// A schema tenant from before decision 0008 (its group role not yet granted to the
/// router) is admitted by the reconcile at the next start.
#[tokio::test]
async fn schema_tenants_from_before_the_router_are_admitted_at_start() {
    let pg = PgEnv::start_with_openbao();
    let instance = pg.instances[0].0;
    let server = start(&pg, Mode::PgSchema, &[]);
    server.create_tenant_on("alpha", "schema", instance).await;
    server.create_host("alpha", "alpha-1").await;
    let data = server.stop();
    let postgres = pg.instance(instance).url("postgres");
    pg_exec(&postgres, "REVOKE t_alpha_rw FROM tenantry_router").await;
    let router_is_member = "SELECT count(*) FROM pg_auth_members m \
         JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member \
         WHERE r.rolname = 't_alpha_rw' AND u.rolname = $1";
    assert_eq!(
        pg_count(&postgres, router_is_member, "tenantry_router").await,
        0
    );

    let server = TestServer::builder()
        .mode(Mode::PgSchema)
        .pg(&pg)
        .data_dir(&data)
        .start();
    assert_eq!(
        pg_count(&postgres, router_is_member, "tenantry_router").await,
        1
    );
    assert_eq!(server.hostnames("alpha").await, vec!["alpha-1".to_owned()]);
}

#[tokio::test]
async fn the_request_path_makes_no_openbao_calls() {
    let pg = PgEnv::start_with_openbao();
    let server = start(&pg, Mode::PgDatabase, &[]);
    for slug in ["alpha", "bravo"] {
        server.create_tenant(slug).await;
        server.create_host(slug, &format!("{slug}-1")).await;
    }
    let before = server.metric("tenantry_openbao_requests_total").await;
    assert!(before > 0, "creating tenants should have used OpenBAO");
    for round in 0..20 {
        let slug = if round % 2 == 0 { "alpha" } else { "bravo" };
        assert_eq!(server.hostnames(slug).await, vec![format!("{slug}-1")]);
    }
    let after = server.metric("tenantry_openbao_requests_total").await;
    assert_eq!(
        after,
        before,
        "requests called OpenBAO {} times",
        after - before
    );
    assert_eq!(server.metric("tenantry_openbao_leases").await, 2);
}

#[tokio::test]
async fn leases_are_renewed_and_replaced_without_failing_requests() {
    let pg = PgEnv::start_with_openbao();
    let server = start(
        &pg,
        Mode::PgSchema,
        &[
            ("TENANTRY_VAULT__LEASE_TTL", "3s"),
            ("TENANTRY_VAULT__LEASE_MAX_TTL", "6s"),
        ],
    );
    server.create_tenant("alpha").await;
    server.create_host("alpha", "alpha-1").await;
    // Requests keep flowing, back to back, until a lease has been renewed and another has
    // replaced it: the requests themselves are what must not fail meanwhile.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut requests = 0;
    loop {
        assert_eq!(server.hostnames("alpha").await, vec!["alpha-1".to_owned()]);
        requests += 1;
        let renewed = server.metric("tenantry_openbao_lease_renewals_total").await;
        let rotated = server
            .metric("tenantry_openbao_lease_rotations_total")
            .await;
        if renewed >= 1 && rotated >= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after {requests} requests: {renewed} renewals, {rotated} rotations"
        );
    }
    // Replaced logins end with their leases: OpenBAO's revocation drops them. (A schema
    // tenant's logins are its instance's router logins.)
    let cluster = pg.instance(&server.placement("alpha").await.0);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let logins = pg_count(
            &cluster.url("postgres"),
            "SELECT count(*) FROM pg_roles r JOIN pg_auth_members m ON m.member = r.oid \
             JOIN pg_roles g ON g.oid = m.roleid WHERE g.rolname = $1 AND r.rolcanlogin",
            "tenantry_router",
        )
        .await;
        if logins <= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{logins} router logins still exist"
        );
        assert_eq!(server.hostnames("alpha").await, vec!["alpha-1".to_owned()]);
    }
}

#[tokio::test]
async fn openbao_going_away_keeps_live_tenants_and_refuses_new_ones() {
    let pg = PgEnv::start_with_openbao();
    let server = start(&pg, Mode::PgDatabase, &[]);
    server.create_tenant("alpha").await;
    server.create_host("alpha", "alpha-1").await;
    let (status, _) = call(server.anon(Method::GET, "/readyz")).await;
    assert_eq!(status, StatusCode::OK);

    pg.bao()
        .server
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .kill();

    // The live lease keeps serving.
    assert_eq!(server.hostnames("alpha").await, vec!["alpha-1".to_owned()]);
    let problem = expect_problem(
        server
            .op(Method::POST, "/api/v1/tenants")
            .json(&serde_json::json!({ "slug": "bravo", "display_name": "Bravo" })),
        StatusCode::SERVICE_UNAVAILABLE,
        "credential_broker_unavailable",
    )
    .await;
    assert!(!problem.to_string().contains("127.0.0.1"), "{problem}");
    let (status, body) = call(server.anon(Method::GET, "/readyz")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        body.to_string().contains("credential broker (openbao)"),
        "{body}"
    );
    // The failed create was rolled back as far as it can be: the storage and group role
    // are gone; the slug stays reserved (deleting) until OpenBAO confirms nothing is left.
    let (status, body) = call(server.op(Method::GET, "/api/v1/tenants/bravo")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "deleting", "{body}");
    for (.., cluster) in &pg.instances {
        let url = cluster.url("postgres");
        assert_eq!(
            pg_count(
                &url,
                "SELECT count(*) FROM pg_database WHERE datname = $1",
                "t_bravo"
            )
            .await,
            0
        );
        assert_eq!(
            pg_count(
                &url,
                "SELECT count(*) FROM pg_roles WHERE rolname = $1",
                "t_bravo_rw"
            )
            .await,
            0
        );
    }
}

#[tokio::test]
async fn purge_leaves_nothing_in_postgres_or_openbao() {
    for mode in [Mode::PgDatabase, Mode::PgSchema] {
        let pg = PgEnv::start_with_openbao();
        let server = start(&pg, mode, &[]);
        server.create_tenant("alpha").await;
        server.create_tenant("bravo").await;
        server.create_host("alpha", "alpha-1").await;
        server.create_host("bravo", "bravo-1").await;
        let (instance, _) = server.placement("alpha").await;
        let url = pg.instance(&instance).url("postgres");
        // A login issued outside the server is revoked too (database mode: schema tenants
        // have no logins of their own, decision 0008).
        let outside = match mode {
            Mode::PgDatabase => Some(issued_login(&pg, "tenant-alpha").await),
            _ => None,
        };
        // Registry rows that belong to the tenant.
        server.add_domain("alpha", "alpha.example.com").await;
        let (status, token) = call(
            server
                .op(Method::POST, "/api/v1/tenants/alpha/enrollment-tokens")
                .json(&serde_json::json!({ "ttl": "1h" })),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{token}");
        let tenant: Tenant = answer(
            server.op(Method::GET, "/api/v1/tenants/alpha"),
            StatusCode::OK,
        )
        .await;
        let id = tenant.id.to_string();
        let registry = pg.registry.url("tenantry_registry");
        let registry_rows = "SELECT (SELECT count(*) FROM registry_tenants WHERE id = $1::uuid) \
             + (SELECT count(*) FROM registry_domains WHERE tenant_id = $1::uuid) \
             + (SELECT count(*) FROM registry_tenant_versions WHERE tenant_id = $1::uuid) \
             + (SELECT count(*) FROM registry_trusted_keys WHERE tenant_id = $1::uuid) \
             + (SELECT count(*) FROM registry_enrollment_tokens WHERE tenant_id = $1::uuid)";
        assert!(pg_count(&registry, registry_rows, &id).await >= 4);

        let report: PurgeReport = answer(
            server.op(Method::DELETE, "/api/v1/tenants/alpha"),
            StatusCode::OK,
        )
        .await;
        assert!(report.verified);
        assert!(
            !server.media_dir("alpha").exists(),
            "{mode:?}: the media directory is left"
        );
        let (status, _) = call(server.op(Method::GET, "/api/v1/tenants/alpha")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        assert_eq!(
            pg_count(
                &url,
                "SELECT count(*) FROM pg_database WHERE datname = $1",
                "t_alpha"
            )
            .await,
            0
        );
        assert_eq!(
            pg_count(
                &url,
                "SELECT count(*) FROM pg_roles WHERE rolname = $1",
                "t_alpha_rw"
            )
            .await,
            0
        );
        assert_eq!(
            pg_count(
                &url,
                "SELECT count(*) FROM pg_roles WHERE rolname LIKE '%tenant-' || $1 || '-%'",
                "alpha"
            )
            .await,
            0,
            "{mode:?}: logins of alpha are left"
        );
        if let Some((outside, _)) = &outside {
            assert_eq!(
                pg_count(
                    &url,
                    "SELECT count(*) FROM pg_roles WHERE rolname = $1",
                    outside
                )
                .await,
                0
            );
        }
        if mode == Mode::PgSchema {
            let pool = pg.instance(&instance).url("tenantry_pool");
            assert_eq!(
                pg_count(
                    &pool,
                    "SELECT count(*) FROM pg_namespace WHERE nspname = $1",
                    "t_alpha"
                )
                .await,
                0
            );
        }
        let (status, _) = pg.bao_call("GET", "database/roles/tenant-alpha").await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "{mode:?}: the OpenBAO role is left"
        );
        let (status, leases) = pg
            .bao_call("LIST", "sys/leases/lookup/database/creds/tenant-alpha/")
            .await;
        assert!(
            status == StatusCode::NOT_FOUND
                || leases["data"]["keys"].as_array().is_none_or(Vec::is_empty),
            "{mode:?}: leases are left: {leases}"
        );
        // The other tenant is untouched and still served.
        assert_eq!(server.hostnames("bravo").await, vec!["bravo-1".to_owned()]);
        let bravo_role = match mode {
            Mode::PgDatabase => "database/roles/tenant-bravo".to_owned(),
            _ => format!(
                "database/roles/router-{}",
                server.placement("bravo").await.0
            ),
        };
        let (status, _) = pg.bao_call("GET", &bravo_role).await;
        assert_eq!(status, StatusCode::OK, "{mode:?}: {bravo_role}");

        // The same slug again is a new, empty tenant with working credentials.
        let again = server.create_tenant("alpha").await;
        assert_eq!(again.status, TenantStatus::Active, "{again:?}");
        assert!(server.hostnames("alpha").await.is_empty());
    }
}

/// A held credential that PostgreSQL refuses (revoked behind the server's back) is
/// replaced by a fresh lease on the next connection, once.
#[tokio::test]
async fn a_refused_credential_is_leased_anew() {
    let pg = PgEnv::start_with_openbao();
    // Budget for one pool at a time: using bravo closes alpha's pool (and its sessions,
    // which would otherwise keep working as the group role after the login is dropped).
    let server = start(
        &pg,
        Mode::PgDatabase,
        &[
            ("TENANTRY_POOLS__PER_TENANT", "2"),
            ("TENANTRY_POOLS__PER_INSTANCE", "2"),
            ("TENANTRY_POOLS__MAX_CONNECTIONS", "2"),
        ],
    );
    for slug in ["alpha", "bravo"] {
        server.create_tenant(slug).await;
        server.create_host(slug, &format!("{slug}-1")).await;
    }
    assert_eq!(server.hostnames("alpha").await, vec!["alpha-1".to_owned()]);
    let (status, body) = pg
        .bao_call(
            "PUT",
            "sys/leases/revoke-prefix/database/creds/tenant-alpha",
        )
        .await;
    assert!(status.is_success(), "{body}");
    assert_eq!(server.hostnames("bravo").await, vec!["bravo-1".to_owned()]);
    let before = server.metric("tenantry_openbao_requests_total").await;
    // alpha's pool reopens with the revoked login, is refused, and leases again.
    assert_eq!(server.hostnames("alpha").await, vec!["alpha-1".to_owned()]);
    let after = server.metric("tenantry_openbao_requests_total").await;
    assert_eq!(after - before, 1, "expected exactly one new lease");
}

#[tokio::test]
async fn shared_credentials_are_warned_about_at_every_start() {
    let pg = PgEnv::start();
    let server = start(&pg, Mode::PgDatabase, &[]);
    let warned = server
        .log_lines()
        .iter()
        .any(|l| l["level"] == "WARN" && l.to_string().contains("allow_shared_credentials: true"));
    assert!(warned, "no warning about shared credentials");
}

#[tokio::test]
async fn tenants_created_at_once_all_get_their_own_roles() {
    // Found by `scripts/bench --openbao`: concurrent schema-mode creations granted CONNECT
    // on the shared database at the same moment and failed ("tuple concurrently updated"),
    // and creations waiting for the template lock could hold every admin connection.
    for mode in [Mode::PgSchema, Mode::PgDatabase] {
        let pg = PgEnv::start_with_openbao();
        let server = start(&pg, mode, &[]);
        // More than the 4 admin connections per instance: creations wait for each other.
        let slugs: Vec<String> = (0..8).map(|i| format!("burst-{i}")).collect();
        let creates = slugs.iter().map(|slug| {
            let req = server
                .op(Method::POST, "/api/v1/tenants")
                .json(&serde_json::json!({ "slug": slug }));
            async move { call(req).await }
        });
        for (status, body) in futures_util::future::join_all(creates).await {
            if status != StatusCode::CREATED {
                let errors: Vec<_> = server
                    .log_lines()
                    .into_iter()
                    .filter(|l| l["level"] == "ERROR")
                    .collect();
                panic!("{mode:?}: {body}\n{errors:#?}");
            }
        }
        for slug in &slugs {
            server.create_host(slug, &format!("{slug}-host")).await;
            assert_eq!(server.hostnames(slug).await, [format!("{slug}-host")]);
        }
    }
}

/// OpenBAO gone for longer than a tenant's lease: once the credential has expired, the
/// tenant's requests are 503 `credential_broker_unavailable`, never a 500. (A dev server
/// keeps nothing across a restart, so coming back is not tested here.)
#[tokio::test]
async fn openbao_gone_past_a_lease_is_503_credential_broker_unavailable() {
    let pg = PgEnv::start_with_openbao();
    let server = start(
        &pg,
        Mode::PgDatabase,
        &[
            ("TENANTRY_VAULT__LEASE_TTL", "2s"),
            ("TENANTRY_VAULT__LEASE_MAX_TTL", "4s"),
            ("TENANTRY_POOLS__ACQUIRE_TIMEOUT", "1s"),
        ],
    );
    server.create_tenant("alpha").await;
    server.create_host("alpha", "alpha-1").await;
    pg.bao()
        .server
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .kill();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = call(server.as_tenant("alpha", Method::GET, "/api/v1/hosts")).await;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(body["code"], "credential_broker_unavailable", "{body}");
            break;
        }
        if status != StatusCode::OK {
            let id = body["request_id"].as_str().unwrap_or("?").to_owned();
            let log = server.log_for(&id);
            panic!("before the lease runs out: {status} {body}\n{log:#?}");
        }
        assert!(
            Instant::now() < deadline,
            "requests were still served 30 s after OpenBAO went away, past the lease's maximum"
        );
    }
}

/// OpenBAO over HTTPS (`bao server -dev -dev-tls`), its CA given as `vault.ca_file`: leases,
/// their use and the verified purge all work; a server told to trust another CA does not
/// start, and says why.
#[tokio::test]
async fn the_broker_works_over_https_and_refuses_an_unknown_ca() {
    let pg = PgEnv::start_with_openbao_tls();
    assert!(pg.bao().url.starts_with("https://"), "{}", pg.bao().url);
    let server = TestServer::builder().mode(Mode::PgDatabase).pg(&pg).start();
    server.create_tenant("alpha").await;
    server.create_host("alpha", "alpha-1").await;
    assert_eq!(server.hostnames("alpha").await, vec!["alpha-1".to_owned()]);
    assert!(server.metric("tenantry_openbao_leases").await >= 1);
    let report: PurgeReport = answer(
        server.op(Method::DELETE, "/api/v1/tenants/alpha"),
        StatusCode::OK,
    )
    .await;
    assert!(report.verified);
    let (status, _) = pg.bao_call("GET", "database/roles/tenant-alpha").await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the tenant's OpenBAO role is left"
    );
    drop(server);

    let other = crate::tls::Ca::new();
    let dir = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
    let config = dir.path().join("tenantry.yaml");
    std::fs::write(&config, pg.config(Mode::PgDatabase)).unwrap_or_else(|e| panic!("{e}"));
    let (config_s, data_s, ca_s) = (
        config.display().to_string(),
        dir.path().join("data").display().to_string(),
        other.cert().display().to_string(),
    );
    let out = crate::support::run(
        &["serve", "--config", &config_s],
        &[
            ("TENANTRY_DATA_DIR", data_s.as_str()),
            ("TENANTRY_SERVER__LISTEN", "127.0.0.1:0"),
            ("TENANTRY_VAULT__CA_FILE", ca_s.as_str()),
        ],
    );
    let stderr = text(&out.stderr);
    assert!(
        !out.status.success(),
        "trusted an OpenBAO no known CA signed"
    );
    assert!(
        stderr.contains("OpenBAO")
            && (stderr.contains("certificate") || stderr.contains("UnknownIssuer")),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
