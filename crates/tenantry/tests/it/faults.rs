//! Faults produced for real answer with their own codes, never a 500, and leave nothing
//! corrupted: a full disk under the data directory, a stopped registry.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{Mode, TestServer, call, until};

/// A small tmpfs, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let dir = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap_or_else(|e| panic!("mount: {e}"));
        assert!(status.success(), "mounting a tmpfs (the tests run as root)");
        SmallDisk { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Fills the file system under `dir` to the last byte with one file; returns it.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap_or_else(|e| panic!("{e}"));
    let chunk = vec![0u8; 4096];
    loop {
        if file
            .write_all(&chunk)
            .and_then(|()| file.sync_all())
            .is_err()
        {
            break;
        }
    }
    // Whatever is left is smaller than a page.
    for _ in 0..4096 {
        if file.write_all(&[0]).and_then(|()| file.sync_all()).is_err() {
            break;
        }
    }
    path
}

#[tokio::test]
async fn a_full_disk_is_507_and_corrupts_nothing() {
    let disk = SmallDisk::mount("24m");
    let server = TestServer::builder()
        .mode(Mode::Sqlite)
        .data_dir(&disk.path().join("data"))
        .start();
    server.create_tenant("acme").await;
    let mut acked = Vec::new();
    for i in 0..5 {
        let hostname = format!("before-{i}");
        server.create_host("acme", &hostname).await;
        acked.push(hostname);
    }
    let filler = fill(disk.path());

    // Writes until the databases have no room left: each is refused as 507, or succeeds
    // in pages SQLite already had.
    let mut refused = 0;
    for i in 0..200 {
        let hostname = format!("full-{i}-{}", "x".repeat(200));
        let (status, body) = call(
            server
                .as_tenant("acme", Method::POST, "/api/v1/hosts")
                .json(&json!({ "hostname": hostname })),
        )
        .await;
        match status {
            StatusCode::CREATED => acked.push(hostname),
            StatusCode::INSUFFICIENT_STORAGE => {
                assert_eq!(body["code"], "insufficient_storage", "{body}");
                assert!(!body.to_string().contains(".db"), "{body}");
                refused += 1;
            }
            other => panic!("a write on a full disk got {other}: {body}"),
        }
        if refused >= 3 {
            break;
        }
    }
    assert!(refused >= 3, "the disk never filled up");
    let (status, body) = call(
        server
            .op(Method::POST, "/api/v1/tenants")
            .json(&json!({ "slug": "beta" })),
    )
    .await;
    assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE, "{body}");
    assert_eq!(body["code"], "insufficient_storage", "{body}");

    // Room again: everything acknowledged is there, and the server writes again.
    std::fs::remove_file(filler).unwrap_or_else(|e| panic!("{e}"));
    server.create_host("acme", "after").await;
    acked.push("after".to_owned());
    acked.sort();
    assert_eq!(server.hostnames("acme").await, acked);
    server.create_tenant("beta").await;
    let (status, body) = call(server.anon(Method::GET, "/readyz")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    drop(server);
}

/// A running `tenantry agent`, killed when dropped. Its output lines are awaited as they
/// come, so the test waits for what the agent did rather than for time to pass.
struct RunningAgent {
    child: std::process::Child,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
}

impl RunningAgent {
    fn start(dir: &Path, server_url: &str, token: &str, machine_id: &str) -> RunningAgent {
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{e}"));
        let config = dir.join("agent.yaml");
        std::fs::write(
            &config,
            format!(
                "server:\n  url: {server_url}\nstate_dir: {}\ninterval: 5s\nsecurity:\n  enrollment_token: {token}\nmachine_id: {machine_id}\n",
                dir.join("state").display()
            ),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut child = crate::support::tenantry()
            .arg("agent")
            .arg("--config")
            .arg(&config)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"));
        let (send, lines) = tokio::sync::mpsc::unbounded_channel();
        let out: Box<dyn std::io::Read + Send> = match child.stdout.take() {
            Some(out) => Box::new(out),
            None => panic!("no stdout"),
        };
        let err: Box<dyn std::io::Read + Send> = match child.stderr.take() {
            Some(err) => Box::new(err),
            None => panic!("no stderr"),
        };
        for stream in [out, err] {
            let send = send.clone();
            std::thread::spawn(move || {
                use std::io::BufRead;
                for line in std::io::BufReader::new(stream)
                    .lines()
                    .map_while(Result::ok)
                {
                    let _ = send.send(line);
                }
            });
        }
        RunningAgent { child, lines }
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for the agent to print a line containing `what` (at most `seconds`).
    async fn says(&mut self, what: &str, seconds: u64) {
        let found = tokio::time::timeout(Duration::from_secs(seconds), async {
            while let Some(line) = self.lines.recv().await {
                if line.contains(what) {
                    return true;
                }
            }
            false
        })
        .await;
        assert!(
            matches!(found, Ok(true)),
            "the agent did not say `{what}` within {seconds} s"
        );
    }
}

impl Drop for RunningAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const TENANTS: [&str; 2] = ["acme", "beta"];

#[tokio::test]
async fn agents_ride_out_a_stopped_instance_and_a_stopped_registry() {
    let server = TestServer::builder()
        .mode(Mode::PgDatabase)
        .env("TENANTRY_POOLS__ACQUIRE_TIMEOUT", "1s")
        .start();
    let pg = server.pg.clone().unwrap_or_else(|| panic!("no clusters"));
    // One agent in each of two tenants on one instance (agents report the machine's own
    // hostname, which is unique within a tenant).
    let dir = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
    let mut agents = Vec::new();
    for slug in TENANTS {
        server.create_tenant_on(slug, "database", "us1").await;
        let (token, _) = server.enrollment_token(slug).await;
        let machine = format!("machine-{slug}");
        agents.push(RunningAgent::start(
            &dir.path().join(slug),
            &server.url,
            &token,
            &machine,
        ));
    }
    let admin = server.admin_token("acme").await;
    for agent in &mut agents {
        agent.says("checked in", 30).await;
    }

    // The tenant's instance stops: its requests are 503 instance_unavailable, agents wait.
    pg.instance("us1").stop();
    let (status, body) = call(server.as_tenant("acme", Method::GET, "/api/v1/hosts")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "instance_unavailable", "{body}");
    for agent in &mut agents {
        agent.says("instance_unavailable", 30).await;
    }
    assert!(
        agents.iter_mut().all(RunningAgent::alive),
        "an agent gave up"
    );
    pg.instance("us1").resume();
    for agent in &mut agents {
        agent.says("checked in", 60).await;
    }

    // The registry stops: what needs it is 503 service_unavailable, never 500; tenant
    // data behind a tenant's own token is still served; agents wait.
    pg.registry.stop();
    for req in [
        server.op(Method::GET, "/api/v1/tenants"),
        server.as_tenant("acme", Method::GET, "/api/v1/hosts"),
        server
            .op(Method::POST, "/api/v1/tenants")
            .json(&json!({ "slug": "later" })),
    ] {
        let (status, body) = call(req).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["code"], "service_unavailable", "{body}");
    }
    let (status, body) = call(
        server
            .anon(Method::GET, "/api/v1/hosts")
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for agent in &mut agents {
        agent.says("service_unavailable", 30).await;
    }
    assert!(
        agents.iter_mut().all(RunningAgent::alive),
        "an agent gave up"
    );
    pg.registry.resume();
    for agent in &mut agents {
        agent.says("checked in", 60).await;
    }
    assert!(
        agents.iter_mut().all(RunningAgent::alive),
        "an agent gave up"
    );
    let (status, body) = call(server.op(Method::GET, "/api/v1/tenants")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// A creation that failed on an unreachable instance is rolled back by the server itself
/// once the instance answers again: no one has to call reconcile.
#[tokio::test]
async fn a_creation_failed_on_a_stopped_instance_is_finished_once_it_is_back() {
    let server = TestServer::builder()
        .mode(Mode::PgDatabase)
        .env("TENANTRY_POOLS__ACQUIRE_TIMEOUT", "1s")
        .env("TENANTRY_LIFECYCLE__RECONCILE_INTERVAL", "1s")
        .start();
    let pg = server.pg.clone().unwrap_or_else(|| panic!("no clusters"));
    let create = || {
        server
            .op(Method::POST, "/api/v1/tenants")
            .json(&json!({ "slug": "stuck", "isolation": "database", "instance": "us1" }))
    };
    pg.instance("us1").stop();
    let (status, body) = call(create()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "instance_unavailable", "{body}");
    let (status, body) = call(server.op(Method::GET, "/api/v1/tenants/stuck")).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the slug is held until the rollback is done: {body}"
    );
    assert_eq!(body["status"], "deleting", "{body}");
    let (status, body) = call(create()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    // A tenant being deleted takes nothing new.
    for (path, body) in [
        ("/api/v1/tenants/stuck/enrollment-tokens", json!({})),
        (
            "/api/v1/tenants/stuck/domains",
            json!({ "domain": "stuck.example.org" }),
        ),
        ("/api/v1/tenants/stuck/admin-token", json!({})),
        (
            "/api/v1/keys",
            json!({ "public_key": "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n", "tenant": "stuck" }),
        ),
    ] {
        let (status, problem) = call(server.op(Method::POST, path).json(&body)).await;
        assert_eq!(status, StatusCode::CONFLICT, "{path}: {problem}");
        assert_eq!(problem["code"], "tenant_deleting", "{path}: {problem}");
    }

    pg.instance("us1").resume();
    until(
        30,
        "the server rolls the creation back by itself",
        // The server says so once the purge is over and its lifecycle lock released.
        async || {
            server
                .log_lines()
                .iter()
                .any(|l| l["tenant"] == "stuck" && l["message"] == "finished an interrupted purge")
        },
    )
    .await;
    let (status, body) = call(server.op(Method::GET, "/api/v1/tenants/stuck")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = call(create()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    server.create_host("stuck", "web").await;
    assert_eq!(server.stored_hostnames("stuck").await, ["web"]);
}

/// Every connection of a tenant's pool busy (held behind a lock taken outside the server)
/// while the instance answers: a request that cannot get one is 503 `storage_busy`, not
/// `instance_unavailable`, and the busy request still finishes.
#[tokio::test]
async fn a_saturated_pool_is_storage_busy_not_an_unavailable_instance() {
    use sqlx::{ConnectOptions, Connection};
    let server = std::sync::Arc::new(
        TestServer::builder()
            .mode(Mode::PgDatabase)
            .env("TENANTRY_POOLS__PER_TENANT", "1")
            .env("TENANTRY_POOLS__ACQUIRE_TIMEOUT", "1s")
            .start(),
    );
    let pg = server.pg.clone().unwrap_or_else(|| panic!("no clusters"));
    server.create_tenant_on("acme", "database", "eu1").await;
    server.create_host("acme", "web").await;
    let url = pg.instance("eu1").url("t_acme");
    let options: sqlx::postgres::PgConnectOptions = url.parse().unwrap_or_else(|e| panic!("{e}"));
    let mut locker = options.connect().await.unwrap_or_else(|e| panic!("{e}"));
    let mut lock = locker.begin().await.unwrap_or_else(|e| panic!("{e}"));
    sqlx::query("LOCK TABLE hosts IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let first = {
        let server = std::sync::Arc::clone(&server);
        tokio::spawn(
            async move { call(server.as_tenant("acme", Method::GET, "/api/v1/hosts")).await },
        )
    };
    until(30, "the first request waits behind the lock", async || {
        crate::support::pg_count(
            &pg.instance("eu1").url("postgres"),
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'",
            "t_acme",
        )
        .await
            == 1
    })
    .await;
    let (status, body) = call(server.as_tenant("acme", Method::GET, "/api/v1/hosts")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "storage_busy", "{body}");

    lock.commit().await.unwrap_or_else(|e| panic!("{e}"));
    let (status, body) = first.await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status, StatusCode::OK, "{body}");
    let _ = locker.close().await;
}
