//! Tenant limits that stop noisy neighbours: a tenant over its request rate is refused
//! with 429 `rate_limited` (and says when to come back); its neighbours, its agents'
//! check-ins and operators are not held up by it.

use std::sync::Arc;
use std::time::Instant;

use reqwest::{Method, StatusCode};
use serde_json::json;

use tenantry_testkit::redis::RedisServer;

use crate::on_every_backend;
use crate::support::{Mode, PgEnv, TestServer, call, new_key, pg_count, until};

const ACME_RATE: u32 = 5;
const ACME_BURST: u32 = 5;

async fn limit(server: &TestServer, slug: &str, limits: serde_json::Value) {
    let (status, body) = call(
        server
            .op(Method::PATCH, &format!("/api/v1/tenants/{slug}"))
            .json(&json!({ "limits": limits })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_tenant_over_its_rate_is_refused_while_its_neighbour_gets_through() {
    let server = TestServer::start();
    server.create_tenant("acme").await;
    server.create_tenant("beta").await;
    limit(
        &server,
        "acme",
        json!({ "requests_per_second": ACME_RATE, "burst": ACME_BURST }),
    )
    .await;
    let acme = server.admin_token("acme").await;
    let beta = server.admin_token("beta").await;
    let hosts = |token: &str| {
        server
            .anon(Method::GET, "/api/v1/hosts")
            .bearer_auth(token.to_owned())
    };

    // acme sends far more than its rate; beta's requests go in between.
    let started = Instant::now();
    let (mut admitted, mut refused) = (0u32, 0u32);
    for _ in 0..60 {
        let response = hosts(&acme).send().await.unwrap_or_else(|e| panic!("{e}"));
        match response.status() {
            StatusCode::OK => admitted += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                refused += 1;
                let header = |name: &str| {
                    response
                        .headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned()
                };
                let retry: u64 = header("retry-after").parse().unwrap_or(0);
                assert!(retry >= 1, "Retry-After: {retry}");
                assert_eq!(header("ratelimit-policy"), "5;w=1;burst=5");
                assert_eq!(header("ratelimit-remaining"), "0");
                let body: serde_json::Value = response.json().await.unwrap_or_default();
                assert_eq!(body["code"], "rate_limited", "{body}");
            }
            other => panic!("acme: {other}"),
        }
        let (status, body) = call(hosts(&beta)).await;
        assert_eq!(status, StatusCode::OK, "beta was held up by acme: {body}");
    }
    // GCRA: over any window at most burst + rate × window get in.
    let window = started.elapsed().as_secs_f64();
    let most = f64::from(ACME_BURST) + f64::from(ACME_RATE) * window;
    assert!(
        f64::from(admitted) <= most.ceil(),
        "{admitted} admitted in {window:.2} s (at most {most:.1})"
    );
    assert!(refused > 0, "acme was never refused");

    // Operators are not counted against the tenant: support gets through its flood.
    let (status, body) = call(server.as_tenant("acme", Method::GET, "/api/v1/hosts")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn agents_check_in_on_a_budget_of_their_own() {
    let server = TestServer::start();
    server.create_tenant("acme").await;
    let (token, _) = server.enrollment_token("acme").await;
    let host = server.enroll(&token, "machine-limits-0001", "a1").await;
    limit(
        &server,
        "acme",
        json!({ "requests_per_second": 1, "burst": 1, "checkins_per_second": 1000 }),
    )
    .await;
    let admin = server.admin_token("acme").await;
    // The request budget is spent (one, then refused)...
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let request = server
            .anon(Method::GET, "/api/v1/hosts")
            .bearer_auth(&admin);
        statuses.push(call(request).await.0);
    }
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    // ...and the agent checks in all the same.
    for _ in 0..5 {
        let (status, body) = call(
            server
                .anon(Method::POST, "/api/v1/agent/checkin")
                .bearer_auth(&host.credential)
                .json(&json!({})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // Its own budget, when set, is enforced too.
    limit(
        &server,
        "acme",
        json!({ "checkins_per_second": 1, "checkin_burst": 1 }),
    )
    .await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let request = server
            .anon(Method::POST, "/api/v1/agent/checkin")
            .bearer_auth(&host.credential)
            .json(&json!({}));
        statuses.push(call(request).await.0);
    }
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
}

/// Keys in `redis` matching `pattern`, by `redis-cli --scan` (not our code).
fn redis_keys(redis: &RedisServer, pattern: &str) -> Vec<String> {
    let out = std::process::Command::new("redis-cli")
        .args([
            "-p",
            &redis.port.to_string(),
            "--scan",
            "--pattern",
            pattern,
        ])
        .output()
        .unwrap_or_else(|e| panic!("redis-cli: {e}"));
    let mut keys: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    keys.sort();
    keys
}

fn on_redis(pg: &std::sync::Arc<PgEnv>, key: &str, redis: &RedisServer) -> TestServer {
    TestServer::builder()
        .mode(Mode::PgSchema)
        .pg(pg)
        .api_key(key)
        .env("TENANTRY_CACHE__URL", &redis.url())
        .start()
}

/// Two replicas with one Redis hold a tenant to one budget: over a window, the two
/// together admit at most `burst + rate × window`, where each alone would admit that much.
#[tokio::test]
async fn two_replicas_with_one_redis_share_a_tenants_budget() {
    const RATE: u32 = 10;
    const BURST: u32 = 10;
    let pg = PgEnv::start();
    let redis = RedisServer::start();
    let key = new_key();
    let a = on_redis(&pg, &key, &redis);
    a.create_tenant("acme").await;
    a.create_tenant("beta").await;
    limit(
        &a,
        "acme",
        json!({ "requests_per_second": RATE, "burst": BURST }),
    )
    .await;
    // B starts after the limit was set: it reads it with everything else.
    let b = on_redis(&pg, &key, &redis);
    let acme = a.admin_token("acme").await;
    let beta = a.admin_token("beta").await;
    let hosts = |server: &TestServer, token: &str| {
        server
            .anon(Method::GET, "/api/v1/hosts")
            .bearer_auth(token.to_owned())
    };
    let started = Instant::now();
    let (mut admitted, mut refused) = (0u32, 0u32);
    while started.elapsed().as_secs_f64() < 2.0 {
        for server in [&a, &b] {
            match call(hosts(server, &acme)).await {
                (StatusCode::OK, _) => admitted += 1,
                (StatusCode::TOO_MANY_REQUESTS, body) => {
                    assert_eq!(body["code"], "rate_limited", "{body}");
                    refused += 1;
                }
                (other, body) => panic!("acme: {other} {body}"),
            }
            let (status, body) = call(hosts(server, &beta)).await;
            assert_eq!(status, StatusCode::OK, "beta was held up by acme: {body}");
        }
    }
    let window = started.elapsed().as_secs_f64();
    let most = f64::from(BURST) + f64::from(RATE) * window;
    assert!(
        f64::from(admitted) <= most.ceil(),
        "{admitted} admitted over both replicas in {window:.2} s (one budget allows {most:.1})"
    );
    assert!(refused > 0, "never refused");
    assert_eq!(redis_keys(&redis, "t:acme:*"), ["t:acme:rl:requests"]);
    // A refusal holds until Redis said it would: each replica asks again only then, so the
    // flood costs Redis about two calls per interval and replica, not one per request.
    let intervals = (window * f64::from(RATE)).ceil() + 1.0;
    let most_calls = f64::from(admitted) + 2.0 * 2.0 * intervals;
    let calls = script_calls(&redis);
    assert!(
        calls as f64 <= most_calls,
        "Redis ran the budget script {calls} times for {admitted} admitted and {refused} refused requests (at most {most_calls} expected)"
    );
}

/// How often Redis ran a script (`EVALSHA` and `EVAL`), from its own statistics.
fn script_calls(redis: &RedisServer) -> u64 {
    let out = std::process::Command::new("redis-cli")
        .args(["-p", &redis.port.to_string(), "INFO", "commandstats"])
        .output()
        .unwrap_or_else(|e| panic!("redis-cli: {e}"));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("cmdstat_evalsha:") || l.starts_with("cmdstat_eval:"))
        .filter_map(|l| {
            l.split("calls=")
                .nth(1)?
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

/// Deleting a tenant removes its keys from Redis (and verifies none is left); other
/// tenants' keys stay.
#[tokio::test]
async fn a_purge_removes_the_tenants_redis_keys_and_no_others() {
    let pg = PgEnv::start();
    let redis = RedisServer::start();
    let server = on_redis(&pg, &new_key(), &redis);
    // A slow rate with a deep burst: each request pushes the key's expiry a second out.
    let deep = json!({ "requests_per_second": 1, "burst": 1000 });
    for slug in ["acme", "acme-two"] {
        server.create_tenant(slug).await;
        limit(&server, slug, deep.clone()).await;
        let token = server.admin_token(slug).await;
        for _ in 0..20 {
            let request = server
                .anon(Method::GET, "/api/v1/hosts")
                .bearer_auth(&token);
            assert_eq!(call(request).await.0, StatusCode::OK);
        }
    }
    assert_eq!(redis_keys(&redis, "t:acme:*"), ["t:acme:rl:requests"]);
    let (status, report) = call(server.op(Method::DELETE, "/api/v1/tenants/acme")).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["cache_keys_removed"], 1, "{report}");
    assert_eq!(report["verified"], true, "{report}");
    assert!(redis_keys(&redis, "t:acme:*").is_empty());
    // `acme-two` shares a prefix with `acme`, not a key.
    assert_eq!(
        redis_keys(&redis, "t:acme-two:*"),
        ["t:acme-two:rl:requests"]
    );
}

/// Redis stops answering: limits fail open (requests are served, not refused), the
/// failures are counted and `/readyz` says so while staying ready; back, limits hold again.
#[tokio::test]
async fn with_redis_gone_limits_fail_open_and_say_so() {
    let pg = PgEnv::start();
    let redis = RedisServer::start();
    let server = on_redis(&pg, &new_key(), &redis);
    server.create_tenant("acme").await;
    limit(
        &server,
        "acme",
        json!({ "requests_per_second": 1, "burst": 1 }),
    )
    .await;
    let token = server.admin_token("acme").await;
    let hosts = || {
        server
            .anon(Method::GET, "/api/v1/hosts")
            .bearer_auth(&token)
    };
    redis.freeze();
    let outcome = std::panic::AssertUnwindSafe(async {
        for _ in 0..4 {
            let (status, body) = call(hosts()).await;
            assert_eq!(status, StatusCode::OK, "refused with Redis gone: {body}");
        }
        let (status, health) = call(server.anon(Method::GET, "/readyz")).await;
        assert_eq!(status, StatusCode::OK, "{health}");
        assert!(health["notes"].to_string().contains("redis"), "{health}");
        assert!(server.metric("tenantry_redis_failures_total").await > 0);
    });
    let outcome = futures_util::FutureExt::catch_unwind(outcome).await;
    redis.thaw();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    until(10, "limits hold again once Redis is back", async || {
        call(hosts()).await.0 == StatusCode::TOO_MANY_REQUESTS
    })
    .await;
}

/// Two schema-mode replicas on one registry with these `plans.*` settings (`NAME__FIELD`),
/// whose safety-net reload is an hour away: only notifications explain what they learn.
fn two_replicas_with_plans(plans: &[(&str, &str)]) -> (Arc<PgEnv>, TestServer, TestServer) {
    let pg = PgEnv::start();
    let key = new_key();
    let replica = || {
        let mut builder = TestServer::builder()
            .mode(Mode::PgSchema)
            .pg(&pg)
            .api_key(&key)
            .env("TENANTRY_ROUTING__RELOAD_INTERVAL", "1h");
        for (setting, value) in plans {
            builder = builder.env(&format!("TENANTRY_PLANS__{setting}"), value);
        }
        builder.start()
    };
    let (a, b) = (replica(), replica());
    (pg, a, b)
}

/// Named plans from the configuration: a tenant gets its plan's limits (the plan `default`
/// when it names none), its own limits override them field by field, the effective ones
/// are shown, an unknown plan is refused, and a plan change is enforced at once — on every
/// replica within a notification.
#[tokio::test]
async fn plans_set_limits_that_a_tenants_own_override_and_every_replica_enforces() {
    let (_pg, a, b) = two_replicas_with_plans(&[
        ("DEFAULT__REQUESTS_PER_SECOND", "1000"),
        ("DEFAULT__MAX_HOSTS", "50"),
        ("SMALL__REQUESTS_PER_SECOND", "2"),
        ("SMALL__BURST", "2"),
    ]);
    let (status, acme) = call(
        a.op(Method::POST, "/api/v1/tenants")
            .json(&json!({ "slug": "acme", "plan": "small" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{acme}");
    assert_eq!(acme["plan"], "small");
    assert_eq!(
        acme["effective_limits"],
        json!({ "requests_per_second": 2, "burst": 2 })
    );
    let beta: serde_json::Value = call(a.op(Method::GET, "/api/v1/tenants/default")).await.1;
    assert_eq!(
        beta["effective_limits"],
        json!({ "requests_per_second": 1000, "max_hosts": 50 }),
        "no plan named: the plan `default`"
    );
    // Its own limits win, field by field.
    limit(&a, "acme", json!({ "burst": 5 })).await;
    let (_, acme) = call(a.op(Method::GET, "/api/v1/tenants/acme")).await;
    assert_eq!(
        acme["effective_limits"],
        json!({ "requests_per_second": 2, "burst": 5 })
    );
    let (status, body) = call(
        a.op(Method::PATCH, "/api/v1/tenants/acme")
            .json(&json!({ "plan": "huge" })),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["detail"].to_string().contains("default, small"),
        "{body}"
    );

    // beta, on the default plan, is never refused; moved to `small` through A, B refuses
    // it within a notification.
    a.create_tenant("beta").await;
    let token = a.admin_token("beta").await;
    let on_b = || b.anon(Method::GET, "/api/v1/hosts").bearer_auth(&token);
    until(5, "B serves beta", async || {
        call(on_b()).await.0 == StatusCode::OK
    })
    .await;
    for _ in 0..10 {
        assert_eq!(call(on_b()).await.0, StatusCode::OK);
    }
    let (status, body) = call(
        a.op(Method::PATCH, "/api/v1/tenants/beta")
            .json(&json!({ "plan": "small" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    until(2, "B enforces beta's new plan", async || {
        call(on_b()).await.0 == StatusCode::TOO_MANY_REQUESTS
    })
    .await;
}

/// Locks the tenant's hosts table on eu1 in a transaction the returned session holds open
/// (`ROLLBACK` on it frees it); and the database it is in.
async fn lock_hosts(pg: &PgEnv, isolation: &str, slug: &str) -> (String, sqlx::PgConnection) {
    use sqlx::ConnectOptions;
    let (database, table) = match isolation {
        "schema" => ("tenantry_pool".to_owned(), format!("t_{slug}.hosts")),
        _ => (format!("t_{slug}"), "hosts".to_owned()),
    };
    let options: sqlx::postgres::PgConnectOptions = pg
        .instance("eu1")
        .url(&database)
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut holder = options.connect().await.unwrap_or_else(|e| panic!("{e}"));
    let lock = format!("BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE");
    sqlx::raw_sql(sqlx::AssertSqlSafe(lock))
        .execute(&mut holder)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    (database, holder)
}

/// A tenant's `statement_timeout_ms` cuts its statements off (here: one waiting on a
/// lock) with 503 `statement_timeout`, in schema and database mode.
async fn a_statement_past_the_tenants_timeout_is_cut_off(isolation: &str, mode: Mode) {
    let pg = PgEnv::start();
    let server = TestServer::builder().mode(mode).pg(&pg).start();
    server.create_tenant_on("acme", isolation, "eu1").await;
    limit(&server, "acme", json!({ "statement_timeout_ms": 200 })).await;
    let (_, mut holder) = lock_hosts(&pg, isolation, "acme").await;
    let (status, body) = call(server.as_tenant("acme", Method::GET, "/api/v1/hosts")).await;
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut holder)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "statement_timeout", "{body}");
    // Unlocked, it is served again.
    let (status, body) = call(server.as_tenant("acme", Method::GET, "/api/v1/hosts")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_schema_tenants_statement_timeout_is_enforced() {
    a_statement_past_the_tenants_timeout_is_cut_off("schema", Mode::PgSchema).await;
}

#[tokio::test]
async fn a_database_tenants_statement_timeout_is_enforced() {
    a_statement_past_the_tenants_timeout_is_cut_off("database", Mode::PgDatabase).await;
}

/// Tenant `acme`'s hosts table is locked (a `LOCK TABLE` held by another session) while
/// dozens of its clients wait on it: `beta`, on the same instance, is served all along. In
/// schema mode both live in the instance's shared pool, where `acme`'s waiting requests
/// would otherwise hold every connection; its share (`pools.per_tenant`) keeps them to a
/// few, and the rest of its requests give up with 503 `storage_busy`.
async fn a_locked_tenant_does_not_hold_up_its_neighbour(isolation: &str, mode: Mode) {
    let pg = PgEnv::start();
    let server = TestServer::builder()
        .mode(mode)
        .pg(&pg)
        .env("TENANTRY_POOLS__ACQUIRE_TIMEOUT", "2s")
        .start();
    server.create_tenant_on("acme", isolation, "eu1").await;
    server.create_tenant_on("beta", isolation, "eu1").await;
    server.create_host("beta", "b1").await;
    let (database, mut holder) = lock_hosts(&pg, isolation, "acme").await;

    // 48 of acme's clients pile up behind the lock (more than the shared pool holds).
    let waiting: Vec<_> = (0..48)
        .map(|_| {
            let request = server.as_tenant("acme", Method::GET, "/api/v1/hosts");
            tokio::spawn(async move { request.send().await.map(|r| r.status()) })
        })
        .collect();
    // They hold connections, blocked on the lock: as many as acme's share, no more.
    let blocked = async || {
        pg_count(
            &pg.instance("eu1").url("postgres"),
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = $1",
            &database,
        )
        .await
    };
    until(10, "acme's requests wait on the lock", async || {
        blocked().await >= 4
    })
    .await;
    // Meanwhile beta's requests all go through.
    for _ in 0..20 {
        let (status, body) = call(server.as_tenant("beta", Method::GET, "/api/v1/hosts")).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "beta held up by acme's lock: {body}"
        );
    }
    assert_eq!(
        blocked().await,
        4,
        "acme holds more than its share (pools.per_tenant)"
    );
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut holder)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for task in waiting {
        let status = task
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            matches!(status, StatusCode::OK | StatusCode::SERVICE_UNAVAILABLE),
            "acme: {status}"
        );
    }
}

#[tokio::test]
async fn a_locked_schema_tenant_does_not_hold_up_its_neighbour() {
    a_locked_tenant_does_not_hold_up_its_neighbour("schema", Mode::PgSchema).await;
}

#[tokio::test]
async fn a_locked_database_tenant_does_not_hold_up_its_neighbour() {
    a_locked_tenant_does_not_hold_up_its_neighbour("database", Mode::PgDatabase).await;
}

on_every_backend!(a_tenant_at_its_storage_quota_can_read_but_not_write);

/// At its `storage_bytes` quota a tenant's writes answer 507 `storage_quota_exceeded` and
/// change nothing; its reads work, and its neighbour writes as before.
async fn a_tenant_at_its_storage_quota_can_read_but_not_write(mode: Mode) {
    let server = TestServer::builder().mode(mode).start();
    server.create_tenant("acme").await;
    server.create_tenant("beta").await;
    server.create_host("acme", "before").await;
    // Any tenant storage is larger than one byte.
    limit(&server, "acme", json!({ "storage_bytes": 1 })).await;
    let (status, body) = call(
        server
            .as_tenant("acme", Method::POST, "/api/v1/hosts")
            .json(&json!({ "hostname": "over" })),
    )
    .await;
    assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE, "{body}");
    assert_eq!(body["code"], "storage_quota_exceeded", "{body}");
    assert_eq!(server.hostnames("acme").await, ["before"]);
    server.create_host("beta", "fine").await;
    assert_eq!(server.hostnames("beta").await, ["fine"]);
    // Lifted, it writes again.
    limit(&server, "acme", json!({})).await;
    server.create_host("acme", "after").await;
}

/// Plans made through the API: created, changed and removed by operators, applied on every
/// replica within a notification; a configured plan cannot be changed there, and a plan
/// with tenants on it cannot be removed.
#[tokio::test]
async fn plans_made_through_the_api_apply_on_every_replica_at_once() {
    let (_pg, a, b) = two_replicas_with_plans(&[("DEFAULT__MAX_HOSTS", "50")]);
    let put_plan = |server: &TestServer, name: &str, limits: serde_json::Value| {
        call(
            server
                .op(Method::PUT, &format!("/api/v1/plans/{name}"))
                .json(&json!({ "limits": limits })),
        )
    };
    let (status, plan) = put_plan(&a, "trial", json!({ "requests_per_second": 1000 })).await;
    assert_eq!(status, StatusCode::CREATED, "{plan}");
    assert_eq!(plan["source"], "api");
    a.create_tenant("acme").await;
    let (status, body) = call(
        a.op(Method::PATCH, "/api/v1/tenants/acme")
            .json(&json!({ "plan": "trial" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = a.admin_token("acme").await;
    let on_b = || b.anon(Method::GET, "/api/v1/hosts").bearer_auth(&token);
    until(5, "B serves acme", async || {
        call(on_b()).await.0 == StatusCode::OK
    })
    .await;
    for _ in 0..5 {
        assert_eq!(call(on_b()).await.0, StatusCode::OK);
    }
    // Tightened through A: B enforces it within a notification, and shows it.
    let (status, plan) =
        put_plan(&a, "trial", json!({ "requests_per_second": 1, "burst": 1 })).await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    assert_eq!(plan["tenants"], 1);
    until(1, "B enforces the changed plan", async || {
        call(on_b()).await.0 == StatusCode::TOO_MANY_REQUESTS
    })
    .await;
    let (_, acme) = call(b.op(Method::GET, "/api/v1/tenants/acme")).await;
    assert_eq!(
        acme["effective_limits"],
        json!({ "requests_per_second": 1, "burst": 1 })
    );

    // The configuration's plans are listed, and changed only there.
    let (_, plans) = call(b.op(Method::GET, "/api/v1/plans")).await;
    let listed: Vec<(&str, &str)> = plans
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or(""),
                p["source"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(listed, [("default", "config"), ("trial", "api")]);
    let (status, body) = put_plan(&a, "default", json!({})).await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::CONFLICT, &json!("plan_in_config"))
    );
    // Not removed while a tenant is on it; removed once none is.
    let (status, body) = call(a.op(Method::DELETE, "/api/v1/plans/trial")).await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::CONFLICT, &json!("plan_in_use"))
    );
    let (status, body) = call(
        a.op(Method::PATCH, "/api/v1/tenants/acme")
            .json(&json!({ "plan": "default" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = call(a.op(Method::DELETE, "/api/v1/plans/trial")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = call(b.op(Method::GET, "/api/v1/plans/trial")).await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::NOT_FOUND, &json!("plan_not_found"))
    );
    // Bad names and bad limits change nothing.
    for (name, limits) in [
        ("Bad_Name", json!({})),
        ("ok", json!({ "requests_per_second": -1 })),
        ("ok", json!({ "no_such_limit": 1 })),
    ] {
        let (status, body) = put_plan(&a, name, limits).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {body}");
    }
    let (_, plans) = call(a.op(Method::GET, "/api/v1/plans")).await;
    assert_eq!(plans.as_array().map(Vec::len), Some(1), "{plans}");
}
