//! Clients that hang up. Tenant A's clients send every write route of the OpenAPI document
//! thousands of times and close the socket at a random point (after the headers, in the
//! middle of the body, right after it, or while the server works), while tenant B writes.
//! Afterwards every write B saw acknowledged is there, stays there after A's requests fail
//! on purpose, the registry still takes effect, and no connection to any cluster is left
//! inside a transaction.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use tenantry_proto::{EnrollmentToken, Host, Page, Session, Tenant, TenantStatus};

use crate::identity::trusted_keypair;
use crate::on_every_backend;
use crate::support::{Mode, TestServer, answer, call, pg_strings};

on_every_backend!(hang_ups_never_lose_or_poison_another_tenants_work);

/// Aborted requests on every write route.
const ABORTS_PER_ROUTE: usize = 48;
/// More on the routes that write in a transaction, where a hang-up is known to have
/// poisoned pooled connections: tenant storage (sessions) and the registry (enrollment).
const HOT_ROUTES: [(&str, &str); 2] = [
    ("post", "/api/v2/sessions"),
    ("post", "/api/v1/agent/enroll"),
];
const ABORTS_PER_HOT_ROUTE: usize = 1500;
/// Clients of A hanging up at once.
const ABORTERS: usize = 12;

/// A small deterministic generator: the seed is printed, so a failure can be replayed.
#[derive(Clone)]
pub struct Rng(pub u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What A's requests need: its credentials and some records to act on.
pub struct Ctx {
    pub a: String,
    pub operator: String,
    pub admin_a: String,
    pub enroll_a: String,
    pub host_credential_a: String,
    pub host_a: String,
    pub kid_a: String,
    pub session_a: String,
}

/// One raw HTTP/1.1 request.
pub struct Raw {
    pub method: &'static str,
    pub path: String,
    pub bearer: String,
    pub masquerade: Option<String>,
    pub body: Vec<u8>,
}

/// A JSON body; `null` is no body.
fn bytes(body: &Value) -> Vec<u8> {
    if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    }
}

/// A request of A on this route; every write route of the API must be listed here.
pub fn request_for(method: &str, route: &str, ctx: &Ctx, rng: &mut Rng) -> Raw {
    let n = rng.below(1_000_000);
    let a = ctx.a.as_str();
    let op = |method, path: String, body: Value| Raw {
        method,
        path,
        bearer: ctx.operator.clone(),
        masquerade: None,
        body: bytes(&body),
    };
    let admin = |method, path: String, body: Value| Raw {
        method,
        path,
        bearer: ctx.admin_a.clone(),
        masquerade: None,
        body: bytes(&body),
    };
    let template = json!({
        "description": "hang",
        "boot_sets": [{ "name": "compute", "node_list": ["a-web"], "image": "img" }],
    });
    match (method, route) {
        // A few real creations and deletions; most are refused before any storage.
        ("post", "/api/v1/tenants") => {
            let slug = if n.is_multiple_of(50) {
                format!("hang-{}", n % 4)
            } else {
                "Not A Slug".to_owned()
            };
            op("POST", route.to_owned(), json!({ "slug": slug }))
        }
        ("patch", "/api/v1/tenants/{slug}") => op(
            "PATCH",
            format!("/api/v1/tenants/{a}"),
            json!({ "display_name": format!("A {n}") }),
        ),
        ("delete", "/api/v1/tenants/{slug}") => op(
            "DELETE",
            format!("/api/v1/tenants/hang-{}", n % 4),
            Value::Null,
        ),
        ("post", "/api/v1/tenants/{slug}/domains") => op(
            "POST",
            format!("/api/v1/tenants/{a}/domains"),
            json!({ "domain": format!("d{}.a.example", n % 50) }),
        ),
        ("delete", "/api/v1/tenants/{slug}/domains/{domain}") => op(
            "DELETE",
            format!("/api/v1/tenants/{a}/domains/d{}.a.example", n % 50),
            Value::Null,
        ),
        ("post", "/api/v1/reconcile") => op("POST", route.to_owned(), Value::Null),
        ("post", "/api/v1/tenants/{slug}/enrollment-tokens") => admin(
            "POST",
            format!("/api/v1/tenants/{a}/enrollment-tokens"),
            json!({ "ttl": "1h" }),
        ),
        ("delete", "/api/v1/tenants/{slug}/enrollment-tokens/{id}") => admin(
            "DELETE",
            format!(
                "/api/v1/tenants/{a}/enrollment-tokens/{}",
                uuid::Uuid::now_v7()
            ),
            Value::Null,
        ),
        ("post", "/api/v1/tenants/{slug}/admin-token") => op(
            "POST",
            format!("/api/v1/tenants/{a}/admin-token"),
            json!({ "ttl": "1h" }),
        ),
        ("post", "/api/v1/keys") => op(
            "POST",
            route.to_owned(),
            json!({ "public_key": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n" }),
        ),
        ("delete", "/api/v1/keys/{kid}") => {
            op("DELETE", format!("/api/v1/keys/{}", ctx.kid_a), Value::Null)
        }
        ("post", "/api/v1/agent/enroll") => Raw {
            bearer: ctx.enroll_a.clone(),
            ..admin(
                "POST",
                route.to_owned(),
                json!({ "machine_id": format!("machine-{}", n % 200), "facts": { "hostname": format!("m{}", n % 200) } }),
            )
        },
        ("post", "/api/v1/agent/checkin") => Raw {
            bearer: ctx.host_credential_a.clone(),
            ..admin("POST", route.to_owned(), json!({}))
        },
        ("post", "/api/v1/hosts") => admin(
            "POST",
            route.to_owned(),
            json!({ "hostname": format!("a{n}") }),
        ),
        ("patch", "/api/v1/hosts/{id}") => admin(
            "PATCH",
            format!("/api/v1/hosts/{}", ctx.host_a),
            json!({ "labels": { "n": n.to_string() } }),
        ),
        ("delete", "/api/v1/hosts/{id}") => admin(
            "DELETE",
            format!("/api/v1/hosts/{}", uuid::Uuid::now_v7()),
            Value::Null,
        ),
        ("post", "/api/v2/sessiontemplates") => {
            let mut body = template.clone();
            body["name"] = json!(format!("t{}", n % 100));
            admin("POST", route.to_owned(), body)
        }
        ("put", "/api/v2/sessiontemplates/{name}") => admin(
            "PUT",
            format!("/api/v2/sessiontemplates/t{}", n % 100),
            template,
        ),
        ("delete", "/api/v2/sessiontemplates/{name}") => admin(
            "DELETE",
            format!("/api/v2/sessiontemplates/t{}", n % 100),
            Value::Null,
        ),
        ("post", "/api/v2/sessions") => admin(
            "POST",
            route.to_owned(),
            json!({ "template_name": "base", "operation": "boot" }),
        ),
        ("delete", "/api/v2/sessions/{id}") => admin(
            "DELETE",
            format!("/api/v2/sessions/{}", ctx.session_a),
            Value::Null,
        ),
        ("patch", "/api/v2/components/{id}") => Raw {
            masquerade: Some(a.to_owned()),
            ..op(
                "PATCH",
                format!("/api/v2/components/{}", ctx.host_a),
                json!({ "desired_state": null }),
            )
        },
        ("patch", "/api/v2/options") => op(
            "PATCH",
            route.to_owned(),
            json!({ "cleanup_age_secs": 86_400 + n % 100 }),
        ),
        ("put", "/api/v1/plans/{name}") => op(
            "PUT",
            format!("/api/v1/plans/p{}", n % 4),
            json!({ "limits": { "requests_per_second": 1000 + n % 100 } }),
        ),
        ("delete", "/api/v1/plans/{name}") => {
            op("DELETE", format!("/api/v1/plans/p{}", n % 4), Value::Null)
        }
        ("put", "/api/v1/media/{name}") => admin(
            "PUT",
            format!("/api/v1/media/f{}", n % 4),
            json!("m".repeat(n as usize % 4_000)),
        ),
        ("delete", "/api/v1/media/{name}") => {
            admin("DELETE", format!("/api/v1/media/f{}", n % 4), Value::Null)
        }
        _ => panic!("{method} {route}: a write route the hang-up suite does not exercise"),
    }
}

/// Sends `raw` and hangs up at a point chosen by `rng`.
async fn send_and_hang_up(addr: &str, raw: &Raw, rng: &mut Rng) {
    let Ok(mut stream) = TcpStream::connect(addr).await else {
        return;
    };
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        raw.method,
        raw.path,
        raw.bearer,
        raw.body.len()
    );
    if let Some(tenant) = &raw.masquerade {
        head.push_str(&format!("X-Tenantry-Tenant: {tenant}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes()).await;
    match rng.below(8) {
        // After the headers, the body promised but never sent.
        0 => {}
        // In the middle of the body.
        1 => {
            let _ = stream.write_all(&raw.body[..raw.body.len() / 2]).await;
        }
        // Right after the body.
        2 | 3 => {
            let _ = stream.write_all(&raw.body).await;
        }
        // While the server works on it: a few scheduler turns, or up to 2 ms.
        4..=6 => {
            let _ = stream.write_all(&raw.body).await;
            for _ in 0..rng.below(64) {
                tokio::task::yield_now().await;
            }
        }
        _ => {
            let _ = stream.write_all(&raw.body).await;
            tokio::time::sleep(Duration::from_micros(rng.below(2_000))).await;
        }
    }
    // Half of the hang-ups are resets rather than orderly closes.
    if rng.below(2) == 0 {
        let _ = stream.set_zero_linger();
    }
    drop(stream);
}

/// The (method, path template) of every route that writes, from the OpenAPI document.
pub async fn write_routes(server: &TestServer) -> Vec<(String, String)> {
    let (status, doc) = call(server.anon(Method::GET, "/api/openapi.json")).await;
    assert_eq!(status, StatusCode::OK);
    let mut routes = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in ["post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                routes.push((method.to_owned(), path.clone()));
            }
        }
    }
    assert!(routes.len() >= 20, "{routes:?}");
    routes
}

pub async fn setup_a(server: &TestServer, a: &str, keys: &std::path::Path) -> Ctx {
    let admin_a = server.admin_token(a).await;
    let (enroll_a, _) = server.enrollment_token(a).await;
    let enrolled = server.enroll(&enroll_a, "machine-fixed", "a-web").await;
    let (status, template) = call(
        server
            .as_tenant(a, Method::POST, "/api/v2/sessiontemplates")
            .json(&json!({
                "name": "base",
                "boot_sets": [{ "name": "compute", "node_list": ["a-web"], "image": "img" }],
            })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{template}");
    let session: Session = answer(
        server
            .as_tenant(a, Method::POST, "/api/v2/sessions")
            .json(&json!({ "template_name": "base", "operation": "boot" })),
        StatusCode::CREATED,
    )
    .await;
    Ctx {
        a: a.to_owned(),
        operator: server.key().to_owned(),
        admin_a,
        enroll_a,
        host_credential_a: enrolled.credential,
        host_a: enrolled.host_id.to_string(),
        kid_a: trusted_keypair(server, keys, "a-only.pem", &["--tenant", a]),
        session_a: session.id.to_string(),
    }
}

/// B's writes while A hangs up: hostnames acknowledged with 201, and any 5xx seen.
#[derive(Default)]
struct Acked {
    hosts: BTreeSet<String>,
    server_errors: Vec<String>,
}

async fn write_as_b(
    server: &TestServer,
    token: &str,
    prefix: &str,
    acked: &Mutex<Acked>,
    done: &tokio::sync::watch::Receiver<bool>,
) {
    let mut i = 0u64;
    while !*done.borrow() {
        i += 1;
        let hostname = format!("{prefix}-{i}");
        let response = server
            .anon(Method::POST, "/api/v1/hosts")
            .bearer_auth(token)
            .json(&json!({ "hostname": hostname }))
            .send()
            .await;
        let Ok(response) = response else { continue };
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        let mut acked = acked.lock().await;
        if status == StatusCode::CREATED {
            acked.hosts.insert(hostname);
        } else if status.is_server_error() {
            acked.server_errors.push(format!("{status} {body}"));
        }
    }
}

/// B's hostnames, read through the API and straight from its storage.
async fn assert_b_has(server: &TestServer, b: &str, acked: &BTreeSet<String>, when: &str) {
    let stored: BTreeSet<String> = server.stored_hostnames(b).await.into_iter().collect();
    let lost: Vec<&String> = acked.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "{when}: {} of {} acknowledged writes of {b} are gone: {lost:?}",
        lost.len(),
        acked.len()
    );
    let mut listed = BTreeSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = "/api/v1/hosts?limit=500".to_owned();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page: Page<Host> =
            answer(server.as_tenant(b, Method::GET, &path), StatusCode::OK).await;
        listed.extend(page.items.into_iter().map(|h| h.hostname));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert!(
        acked.is_subset(&listed),
        "{when}: {b} lists fewer hosts than it was acknowledged"
    );
}

/// Waits until the server runs no request but the one asking (each look is a request).
async fn until_idle(server: &TestServer) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while server.metric("tenantry_http_requests_in_flight").await > 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "requests still in flight after 30 s"
        );
    }
}

/// Every backend connection of every cluster that sits inside a transaction.
async fn open_transactions(server: &TestServer) -> Vec<String> {
    let Some(pg) = &server.pg else {
        return Vec::new();
    };
    let mut urls = vec![pg.registry.url("postgres")];
    urls.extend(pg.instances.iter().map(|(.., c)| c.url("postgres")));
    let mut open = Vec::new();
    for url in urls {
        open.extend(
            pg_strings(
                &url,
                "SELECT datname || ' ' || usename || ': ' || state || ': ' || left(query, 80) \
                 FROM pg_stat_activity WHERE state LIKE 'idle in transaction%' \
                 AND pid <> pg_backend_pid()",
            )
            .await,
        );
    }
    open
}

async fn hang_ups_never_lose_or_poison_another_tenants_work(mode: Mode) {
    let server = TestServer::start_on(mode);
    let (a, b) = ("alpha", "beta");
    if mode == Mode::Sqlite {
        server.create_tenant(a).await;
        server.create_tenant(b).await;
    } else {
        // On one instance: in schema mode both share that instance's pool.
        server.create_tenant_on(a, mode.isolation(), "eu1").await;
        server.create_tenant_on(b, mode.isolation(), "eu1").await;
    }
    let keys = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
    let ctx = Arc::new(setup_a(&server, a, keys.path()).await);
    let token_b = server.admin_token(b).await;
    let routes = Arc::new(write_routes(&server).await);

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        | 1;
    eprintln!("hang-up seed: {seed}");
    let addr = server
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();

    let acked = Arc::new(Mutex::new(Acked::default()));
    let (stop, done) = tokio::sync::watch::channel(false);
    let server = Arc::new(server);
    let mut writers = Vec::new();
    for w in 0..2 {
        let (server, token, acked, done) = (
            Arc::clone(&server),
            token_b.clone(),
            Arc::clone(&acked),
            done.clone(),
        );
        writers.push(tokio::spawn(async move {
            write_as_b(&server, &token, &format!("b{w}"), &acked, &done).await;
        }));
    }
    // Every route its share, in a shuffled order that the aborters take turns on.
    let mut plan: Vec<usize> = Vec::new();
    for (i, (method, route)) in routes.iter().enumerate() {
        let hot = HOT_ROUTES.contains(&(method.as_str(), route.as_str()));
        let n = if hot {
            ABORTS_PER_HOT_ROUTE
        } else {
            ABORTS_PER_ROUTE
        };
        plan.extend(std::iter::repeat_n(i, n));
    }
    let mut shuffle = Rng(seed);
    for i in (1..plan.len()).rev() {
        plan.swap(i, shuffle.below(i as u64 + 1) as usize);
    }
    let plan = Arc::new(plan);
    let mut aborters = Vec::new();
    for i in 0..ABORTERS {
        let (ctx, routes, addr, plan) = (
            Arc::clone(&ctx),
            Arc::clone(&routes),
            addr.clone(),
            Arc::clone(&plan),
        );
        let mut rng = Rng(seed.wrapping_mul(i as u64 + 3) | 1);
        aborters.push(tokio::spawn(async move {
            for &r in plan.iter().skip(i).step_by(ABORTERS) {
                let (method, route) = &routes[r];
                let raw = request_for(method, route, &ctx, &mut rng);
                send_and_hang_up(&addr, &raw, &mut rng).await;
            }
        }));
    }
    for task in aborters {
        task.await.unwrap_or_else(|e| panic!("{e}"));
    }
    let _ = stop.send(true);
    for task in writers {
        task.await.unwrap_or_else(|e| panic!("{e}"));
    }
    until_idle(&server).await;

    let acked = std::mem::take(&mut *acked.lock().await);
    assert!(
        acked.server_errors.is_empty(),
        "{b} got server errors while {a} hung up: {:?}",
        acked.server_errors
    );
    assert!(
        acked.hosts.len() >= 20,
        "{b} wrote only {}",
        acked.hosts.len()
    );
    assert_b_has(&server, b, &acked.hosts, "after the hang-ups").await;

    // A's requests now fail on purpose, on every connection of the pools they use: if any
    // of them was left inside a transaction, this rolls it back, with B's writes in it.
    let mut failing = Vec::new();
    for i in 0..64 {
        let server = Arc::clone(&server);
        let token = ctx.admin_a.clone();
        failing.push(tokio::spawn(async move {
            let (status, _) = call(
                server
                    .anon(Method::POST, "/api/v1/hosts")
                    .bearer_auth(&token)
                    .json(&json!({ "hostname": "a-web" })),
            )
            .await;
            let (status2, _) = call(
                server
                    .anon(Method::POST, "/api/v2/sessions")
                    .bearer_auth(&token)
                    .json(&json!({ "template_name": format!("missing-{i}"), "operation": "boot" })),
            )
            .await;
            (status, status2)
        }));
    }
    for task in failing {
        let (dup, missing) = task.await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(dup, StatusCode::CONFLICT);
        assert_eq!(missing, StatusCode::NOT_FOUND);
    }
    assert_b_has(&server, b, &acked.hosts, "after A's failures").await;

    // The registry still works, and its writes take effect at once.
    let (token, id) = server.enrollment_token(b).await;
    let revoked: EnrollmentToken = answer(
        server.op(
            Method::DELETE,
            &format!("/api/v1/tenants/{b}/enrollment-tokens/{id}"),
        ),
        StatusCode::OK,
    )
    .await;
    assert!(revoked.revoked, "{revoked:?}");
    let (status, body) = call(
        server
            .anon(Method::POST, "/api/v1/agent/enroll")
            .bearer_auth(&token)
            .json(&json!({ "machine_id": "machine-late", "facts": { "hostname": "late" } })),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "revoked token: {body}");
    for _ in 0..32 {
        let (status, body) = call(server.op(Method::GET, "/api/v1/tenants?limit=500")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // Tenants created while their clients hung up were created whole, or not at all.
    let list: Page<Tenant> = answer(
        server.op(Method::GET, "/api/v1/tenants?limit=500"),
        StatusCode::OK,
    )
    .await;
    for t in &list.items {
        assert_eq!(t.status, TenantStatus::Active, "{t:?}");
    }

    until_idle(&server).await;
    let open = open_transactions(&server).await;
    assert!(
        open.is_empty(),
        "connections left in a transaction: {open:?}"
    );
}
