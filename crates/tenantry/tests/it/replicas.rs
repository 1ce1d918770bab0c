//! Several servers on one PostgreSQL registry. What one changes, the others follow within a
//! notification — also after losing the connection that carries notifications — and
//! lifecycle operations on one tenant never interleave across servers.

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::json;
use tenantry_proto::TenantStatus;

use crate::identity::{token, trusted_keypair};
use crate::support::{Mode, PgEnv, TestServer, call, new_key, pg_exec, pg_strings, until};

/// A replica whose safety-net reload is an hour away: only notifications (and the
/// listener's own catching up) can explain what it learns.
fn replica(pg: &Arc<PgEnv>, key: &str) -> TestServer {
    TestServer::builder()
        .mode(Mode::PgDatabase)
        .pg(pg)
        .api_key(key)
        .env("TENANTRY_ROUTING__RELOAD_INTERVAL", "1h")
        .start()
}

async fn hosts_status(server: &TestServer, slug: &str) -> StatusCode {
    call(server.as_tenant(slug, Method::GET, "/api/v1/hosts"))
        .await
        .0
}

/// The routing listeners' sessions on the registry (every replica's).
const LISTENERS: &str =
    "SELECT pid::text FROM pg_stat_activity WHERE application_name = 'tenantry-routing'";

fn signal_all(pids: &[String], signal: &str) {
    for pid in pids {
        if let Err(e) = tenantry_testkit::process::signal(pid, signal) {
            panic!("{e}");
        }
    }
}

/// Two replicas, and what B must keep up with: `acme` (to be suspended), `beta` (whose key
/// is to be removed, and which a domain is to move to) and `gamma` (the domain's owner).
struct World {
    _pg: Arc<PgEnv>,
    _keys: tempfile::TempDir,
    b: TestServer,
    registry: String,
    token_beta: String,
}

impl World {
    async fn start() -> (World, TestServer) {
        let pg = PgEnv::start();
        let key = new_key();
        let a = replica(&pg, &key);
        let b = replica(&pg, &key);
        for slug in ["acme", "beta", "gamma"] {
            a.create_tenant(slug).await;
        }
        a.create_host("beta", "b1").await;
        a.create_host("gamma", "g1").await;
        a.add_domain("gamma", "fleet.example.com").await;
        let keys = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
        trusted_keypair(&a, keys.path(), "b.pem", &["--tenant", "beta"]);
        let token_beta = token(keys.path(), "b.pem", "beta", "admin", &[]);
        let registry = pg.registry.url("tenantry_registry");
        let world = World {
            _pg: pg,
            _keys: keys,
            b,
            registry,
            token_beta,
        };
        until(5, "B serves all of it", async || {
            world.b_sees().await == (StatusCode::OK, StatusCode::OK, vec!["g1".to_owned()])
        })
        .await;
        (world, a)
    }

    /// What B answers: for `acme`, for beta's token, and whose hosts the domain shows.
    async fn b_sees(&self) -> (StatusCode, StatusCode, Vec<String>) {
        let b = &self.b;
        let acme = hosts_status(b, "acme").await;
        let token = call(
            b.anon(Method::GET, "/api/v1/hosts")
                .bearer_auth(&self.token_beta),
        )
        .await
        .0;
        let (_, by_domain) = call(
            b.op(Method::GET, "/api/v1/hosts")
                .header("Host", "fleet.example.com"),
        )
        .await;
        let hostnames = by_domain["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|h| h["hostname"].as_str().map(str::to_owned))
            .collect();
        (acme, token, hostnames)
    }

    /// Suspends `acme`, removes beta's key and moves the domain to beta, announcing none
    /// of it: what notifications lost while a listener was away would have said. (The gap
    /// between losing a connection and sqlx's reconnect is milliseconds wide and cannot be
    /// hit on purpose; changes nobody announced stand for every change announced into it.)
    async fn change_unannounced(&self) {
        for sql in [
            "UPDATE registry_tenants SET status = 'suspended' WHERE slug = 'acme'",
            "DELETE FROM registry_trusted_keys WHERE tenant_id = (SELECT id FROM registry_tenants WHERE slug = 'beta')",
            "UPDATE registry_domains SET tenant_id = (SELECT id FROM registry_tenants WHERE slug = 'beta') \
             WHERE domain = 'fleet.example.com'",
        ] {
            pg_exec(&self.registry, sql).await;
        }
        assert_eq!(
            self.b_sees().await,
            (StatusCode::OK, StatusCode::OK, vec!["g1".to_owned()]),
            "B learned of the changes without a notification or a reconnect"
        );
    }

    /// B has caught up with all three changes.
    async fn b_caught_up(&self) -> bool {
        self.b_sees().await
            == (
                StatusCode::FORBIDDEN,
                StatusCode::UNAUTHORIZED,
                vec!["b1".to_owned()],
            )
    }
}

#[tokio::test]
async fn a_listener_whose_connection_was_reset_catches_up_at_once() {
    let (world, _a) = World::start().await;
    world.change_unannounced().await;
    // The registry drops every listener's session; sqlx reconnects by itself.
    pg_exec(
        &world.registry,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'tenantry-routing'",
    )
    .await;
    until(
        2,
        "B refuses the suspended tenant and the removed key, and follows the domain",
        async || world.b_caught_up().await,
    )
    .await;
}

#[tokio::test]
async fn a_listener_whose_connection_stopped_answering_catches_up_after_a_heartbeat() {
    let (world, _a) = World::start().await;
    // The listeners' sessions freeze: no FIN, no RST, no answer, as behind a dead network.
    let pids = pg_strings(&world.registry, LISTENERS).await;
    assert!(!pids.is_empty(), "no listener session found");
    let signal = |sig: &str| signal_all(&pids, sig);
    signal("-STOP");
    world.change_unannounced().await;
    // Heartbeat (1 s) + its deadline (1 s) + a new connection and a reload.
    let caught_up = async || world.b_caught_up().await;
    let outcome =
        std::panic::AssertUnwindSafe(until(4, "B catches up after a heartbeat", caught_up));
    let caught = futures_util::FutureExt::catch_unwind(outcome).await;
    signal("-CONT");
    if let Err(panic) = caught {
        std::panic::resume_unwind(panic);
    }
}

#[tokio::test]
async fn lifecycle_operations_on_one_tenant_from_two_replicas_never_interleave() {
    let pg = PgEnv::start();
    let key = new_key();
    let a = replica(&pg, &key);
    let b = replica(&pg, &key);
    // Create on A while B deletes the same slug, again and again: each pair either
    // serialises (create then delete, or delete of nothing then create) or one of them is
    // told the tenant is busy. Never a 5xx, and the end state is whole.
    for round in 0..12 {
        let slug = format!("race-{round}");
        let create = call(
            a.op(Method::POST, "/api/v1/tenants")
                .json(&json!({ "slug": slug })),
        );
        let delete = call(b.op(Method::DELETE, &format!("/api/v1/tenants/{slug}")));
        let ((created, body_c), (deleted, body_d)) = tokio::join!(create, delete);
        assert!(
            matches!(created, StatusCode::CREATED | StatusCode::CONFLICT),
            "create: {created} {body_c}"
        );
        assert!(
            matches!(
                deleted,
                StatusCode::OK | StatusCode::NOT_FOUND | StatusCode::CONFLICT
            ),
            "delete: {deleted} {body_d}"
        );
        for (what, body, status) in [("create", &body_c, created), ("delete", &body_d, deleted)] {
            if status == StatusCode::CONFLICT {
                assert!(
                    matches!(
                        body["code"].as_str(),
                        Some("tenant_busy" | "tenant_deleting")
                    ),
                    "{what}: {body}"
                );
            }
        }
        // Whole: either an active tenant both replicas serve, or nothing at all.
        let (status, tenant) = call(a.op(Method::GET, &format!("/api/v1/tenants/{slug}"))).await;
        match status {
            StatusCode::OK => {
                assert_eq!(tenant["status"], json!(TenantStatus::Active), "{tenant}");
                until(5, "both replicas serve the tenant", async || {
                    hosts_status(&a, &slug).await == StatusCode::OK
                        && hosts_status(&b, &slug).await == StatusCode::OK
                })
                .await;
            }
            StatusCode::NOT_FOUND => {}
            other => panic!("after the race: {other} {tenant}"),
        }
    }
}

#[tokio::test]
async fn a_status_change_cannot_undo_a_delete_another_replica_began() {
    let pg = PgEnv::start();
    let key = new_key();
    let mut a = TestServer::builder()
        .mode(Mode::PgDatabase)
        .pg(&pg)
        .api_key(&key)
        .env("TENANTRY_CRASH_AFTER", "storage_dropped")
        .start();
    let b = replica(&pg, &key);
    a.create_tenant("acme").await;
    // A dies in the middle of the purge: the row says `deleting`, the storage is gone.
    let dying = a.op(Method::DELETE, "/api/v1/tenants/acme").send().await;
    assert!(dying.is_err(), "A answered instead of crashing: {dying:?}");
    assert!(!a.wait_exit().success());
    // Through B: resume it, suspend it. Neither may make it active again.
    for status in ["active", "suspended"] {
        let (answer, body) = call(
            b.op(Method::PATCH, "/api/v1/tenants/acme")
                .json(&json!({ "status": status })),
        )
        .await;
        assert!(
            answer.is_client_error(),
            "PATCH status={status} on a tenant being deleted: {answer} {body}"
        );
    }
    let (status, tenant) = call(b.op(Method::GET, "/api/v1/tenants/acme")).await;
    assert!(
        status == StatusCode::NOT_FOUND || tenant["status"] == json!(TenantStatus::Deleting),
        "{status} {tenant}"
    );
    assert_ne!(hosts_status(&b, "acme").await, StatusCode::OK);
    // Reconcile (B's, as an operator would run it) finishes the purge and frees the slug.
    let (status, report) = call(b.op(Method::POST, "/api/v1/reconcile")).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let (status, _) = call(b.op(Method::GET, "/api/v1/tenants/acme")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// While a create runs on A (held up by an instance that hangs), B can neither delete nor
/// suspend the tenant, nor create it again: the lifecycle lock is the registry's, not A's.
#[tokio::test]
async fn a_lifecycle_operation_on_one_replica_makes_the_tenant_busy_on_the_other() {
    let pg = PgEnv::start();
    let key = new_key();
    let a = Arc::new(replica(&pg, &key));
    let b = replica(&pg, &key);
    pg.instance("eu1").freeze();
    let creating = {
        let a = Arc::clone(&a);
        tokio::spawn(async move {
            call(
                a.op(Method::POST, "/api/v1/tenants")
                    .json(&json!({ "slug": "held", "instance": "eu1" })),
            )
            .await
        })
    };
    until(10, "A's create has registered the tenant", async || {
        call(b.op(Method::GET, "/api/v1/tenants/held")).await.0 == StatusCode::OK
    })
    .await;
    let busy = [
        b.op(Method::DELETE, "/api/v1/tenants/held"),
        b.op(Method::PATCH, "/api/v1/tenants/held")
            .json(&json!({ "status": "suspended" })),
    ];
    let mut answers = Vec::new();
    for request in busy {
        answers.push(call(request).await);
    }
    pg.instance("eu1").thaw();
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["code"], "tenant_busy", "{body}");
    }
    let (created, body) = creating
        .await
        .unwrap_or_else(|e| panic!("the create task: {e}"));
    assert_eq!(created, StatusCode::CREATED, "{body}");
    // Free again: B deletes it.
    let (status, body) = call(b.op(Method::DELETE, "/api/v1/tenants/held")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Cut off from the registry's notifications for longer than `routing.max_staleness`, a
/// replica refuses what its snapshot decides (it may hold a suspended tenant or a removed
/// key) and fails `/readyz`; back in touch, it serves again.
#[tokio::test]
async fn a_replica_that_cannot_confirm_its_routing_refuses_and_says_so() {
    let pg = PgEnv::start();
    let key = new_key();
    let b = TestServer::builder()
        .mode(Mode::PgDatabase)
        .pg(&pg)
        .api_key(&key)
        .env("TENANTRY_ROUTING__MAX_STALENESS", "3s")
        .start();
    b.create_tenant("acme").await;
    let registry = pg.registry.url("tenantry_registry");
    let listeners = pg_strings(&registry, LISTENERS).await;
    // The listener's session stops answering and no new connection gets an answer: a
    // registry this server cannot reach (its tenants' instance still answers).
    pg.registry.freeze();
    signal_all(&listeners, "-STOP");
    let cut_off = async || {
        let (status, body) = call(b.as_tenant("acme", Method::GET, "/api/v1/hosts")).await;
        status == StatusCode::SERVICE_UNAVAILABLE && body["code"] == "routing_stale"
    };
    let refused = std::panic::AssertUnwindSafe(async {
        until(
            10,
            "the cut-off replica refuses with routing_stale",
            cut_off,
        )
        .await;
        let (ready, health) = call(b.op(Method::GET, "/readyz")).await;
        assert_eq!(ready, StatusCode::SERVICE_UNAVAILABLE, "{health}");
        assert!(health.to_string().contains("routing"), "{health}");
    });
    let outcome = futures_util::FutureExt::catch_unwind(refused).await;
    pg.registry.thaw();
    signal_all(&listeners, "-CONT");
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    until(20, "back in touch, the replica serves again", async || {
        hosts_status(&b, "acme").await == StatusCode::OK
    })
    .await;
}
