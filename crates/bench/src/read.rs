//! `read` (and `write`, `memory`): the router next to the physical limit.
//!
//! For each isolation mode it grows one stack through the tenant counts asked for (e.g.
//! 10, then 1,000), seeds every tenant with hosts, gives each tenant its own token, and
//! runs `GET /api/v1/hosts?limit=20` at 32 connections, a tenant chosen at random per
//! request. Then, with the server stopped, `pgbench` runs the same SELECT straight against
//! the same PostgreSQL with the same concurrency and prepared statements, spread over the
//! same tenants. It also samples the server's RSS and the open PostgreSQL connections.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{StreamExt, stream};
use reqwest::Method;
use reqwest::header::HeaderValue;
use serde::Serialize;
use serde_json::json;

use crate::load::{self, Load, Target};
use crate::process::rss_mb;
use crate::server::{Mode, Server, Stack};
use crate::tls::TlsRead;

/// Concurrency of both the routed load and pgbench.
pub const CONNECTIONS: usize = 32;
/// One client, one request at a time: the latency the router adds when nothing queues
/// (at 32 connections the p50 is mostly queueing, 32 ÷ throughput).
const SINGLE: usize = 1;
const HOSTS_PER_TENANT: usize = 20;
/// The SELECT `GET /api/v1/hosts?limit=20` runs (crates/server/src/fleet/hosts.rs), with
/// the unused filters' parameters as the NULLs the server binds.
const HOSTS_QUERY: &str = "SELECT id, hostname, os, labels, facts, online_until, created_at, last_seen_at FROM hosts \
    WHERE (NULL::text IS NULL OR lower(hostname) LIKE NULL::text ESCAPE '\\') \
    AND (NULL::text IS NULL OR labels ->> NULL::text = NULL::text) \
    AND (NULL::text IS NULL OR (NULL::text = 'online' AND online_until > now()) \
         OR (NULL::text = 'offline' AND (online_until IS NULL OR online_until <= now()))) \
    AND (NULL::uuid IS NULL OR id > NULL::uuid) AND (NULL::text IS NULL OR hostname > NULL::text) \
    ORDER BY id LIMIT 20";

#[derive(Debug, Clone, Copy)]
pub struct Windows {
    pub warmup: Duration,
    pub measure: Duration,
}

#[derive(Debug, Serialize)]
pub struct Read {
    pub mode: String,
    pub tenants: usize,
    pub routed: Load,
    pub direct_tps: f64,
    pub direct_latency_ms: f64,
    /// routed requests/s ÷ direct transactions/s.
    pub ratio: f64,
    /// The same read with multi-tenancy off, in the same run: the ceiling a router can
    /// approach. Requests/s and server CPU per request.
    pub no_tenancy_rps: f64,
    pub no_tenancy_server_cpu_us: f64,
    /// routed requests/s ÷ no-tenancy requests/s.
    pub vs_no_tenancy: f64,
    /// Routed p50 minus pgbench's mean latency.
    pub added_p50_ms: f64,
    /// With one client: routed p50, and pgbench's mean latency.
    pub single_client_p50_ms: f64,
    pub single_client_direct_ms: f64,
    /// `single_client_p50_ms - single_client_direct_ms`: what the router adds per request.
    pub single_client_added_ms: f64,
    pub peak_pg_connections: u64,
    pub connection_budget: u64,
    pub rss_idle_mb: f64,
    pub rss_after_mb: f64,
    /// CPU the server process spent per routed request (user + system), in µs.
    pub server_cpu_us_per_request: f64,
    /// CPU the load generator (this process) spent per request, in µs.
    pub generator_cpu_us_per_request: f64,
}

#[derive(Debug, Serialize)]
pub struct Write {
    pub mode: String,
    pub tenants: usize,
    pub checkins: Load,
}

/// What one stack's run found.
pub struct Found {
    pub reads: Vec<Read>,
    pub tls: Vec<TlsRead>,
    pub write: Option<Write>,
}

/// Tenant slugs `b1 … bN`: schema `t_b<n>`, so pgbench can name one from a number.
fn slug(n: usize) -> String {
    format!("b{n}")
}

/// Grows one stack through `counts` tenants; measures reads at each count (when `reads`)
/// and check-ins at `write_at`.
pub async fn run(
    mode: Mode,
    counts: &[usize],
    windows: Windows,
    reads_too: bool,
    write_at: Option<usize>,
    openbao: bool,
    tls: bool,
) -> anyhow::Result<Found> {
    let stack = Stack::new(mode, openbao)?;
    let label = stack.label();
    let baseline = match reads_too {
        true => {
            eprintln!("read/{label}: the same read with multi-tenancy off");
            Some(no_tenancy(&stack, windows).await?)
        }
        false => None,
    };
    let mut server = stack.serve()?;
    let mut tokens: Vec<HeaderValue> = Vec::new();
    let mut reads = Vec::new();
    let mut tls_reads = Vec::new();
    let mut write = None;
    for &n in counts {
        let have = tokens.len();
        eprintln!("read/{}: creating tenants {}..={n}", label, have + 1);
        create_tenants(&server, have + 1..=n).await?;
        seed_hosts(&stack, mode, have + 1..=n)?;
        tokens.extend(tenant_tokens(&server, have + 1..=n).await?);
        if write_at == Some(n) {
            eprintln!("write/{label}: {n} tenants, agent check-ins");
            write = Some(Write {
                mode: label.clone(),
                tenants: n,
                checkins: checkins(&server, n, windows).await?,
            });
        }
        if !reads_too {
            continue;
        }
        let rss_idle = rss_mb(server.pid());
        eprintln!("read/{label}: {n} tenants, routed load");
        let sampler = ConnectionSampler::start(stack.instance()?.url("postgres"));
        let hosts_url = format!("{}/api/v1/hosts?limit=20", server.url);
        let target = Target::get(hosts_url, tokens.clone());
        let costed = load::costed(
            target.clone(),
            CONNECTIONS,
            windows.warmup,
            windows.measure,
            server.pid(),
        )
        .await?;
        let routed = costed.load;
        let single = load::run(
            target,
            SINGLE,
            Duration::from_secs(1),
            windows.measure.min(Duration::from_secs(5)),
        )
        .await?;
        let plain_connections = match tls {
            true => Some(crate::tls::connections(&server, &tokens, windows).await?),
            false => None,
        };
        let peak = sampler.stop().await;
        let rss_after = rss_mb(server.pid());
        let budget = server.metric("tenantry_tenant_connection_budget").await?;
        if routed.errors > 0 {
            eprintln!(
                "warning: {} of {} requests failed",
                routed.errors, routed.requests
            );
        }
        // The physical limit, measured without the server competing for the CPU.
        server.stop();
        eprintln!("read/{label}: {n} tenants, pgbench");
        let (direct_tps, direct_latency_ms) = pgbench(&stack, mode, n, windows, CONNECTIONS)?;
        let single_windows = Windows {
            warmup: Duration::from_secs(1),
            measure: windows.measure.min(Duration::from_secs(5)),
        };
        let (_, single_direct_ms) = pgbench(&stack, mode, n, single_windows, SINGLE)?;
        let (no_tenancy_rps, no_tenancy_server_cpu_us) = baseline
            .map(|b| (b.load.rps, b.server_cpu_us))
            .unwrap_or_default();
        reads.push(Read {
            mode: label.clone(),
            tenants: n,
            ratio: routed.rps / direct_tps.max(f64::MIN_POSITIVE),
            no_tenancy_rps,
            no_tenancy_server_cpu_us,
            vs_no_tenancy: routed.rps / no_tenancy_rps.max(f64::MIN_POSITIVE),
            added_p50_ms: routed.latency.p50_ms - direct_latency_ms,
            single_client_p50_ms: single.latency.p50_ms,
            single_client_direct_ms: single_direct_ms,
            single_client_added_ms: single.latency.p50_ms - single_direct_ms,
            routed,
            direct_tps,
            direct_latency_ms,
            peak_pg_connections: peak,
            connection_budget: budget,
            rss_idle_mb: rss_idle,
            rss_after_mb: rss_after,
            server_cpu_us_per_request: costed.server_cpu_us,
            generator_cpu_us_per_request: costed.generator_cpu_us,
        });
        if let Some(connections) = plain_connections {
            eprintln!("read/{label}: {n} tenants, over HTTPS");
            let https = stack.serve_https()?;
            let plain = crate::tls::Plain {
                reads: costed,
                connections,
            };
            let found = crate::tls::measure(&https, &label, n, &tokens, windows, &plain).await?;
            tls_reads.push(found);
            https.stop();
        }
        server = stack.serve()?;
    }
    server.stop();
    Ok(Found {
        reads,
        tls: tls_reads,
        write,
    })
}

pub(crate) async fn create_tenants(
    server: &Server,
    range: std::ops::RangeInclusive<usize>,
) -> anyhow::Result<()> {
    let results: Vec<anyhow::Result<()>> = stream::iter(range)
        .map(|i| async move {
            let body = json!({ "slug": slug(i) });
            server
                .post_json("/api/v1/tenants", &server.key, &body)
                .await?;
            Ok(())
        })
        .buffer_unordered(4)
        .collect()
        .await;
    results.into_iter().collect()
}

/// `GET /api/v1/hosts?limit=20` on a server with multi-tenancy off (`multitenancy.enabled:
/// false`): one database on the same instance cluster holds the same 20 hosts, read by the
/// operator (with multi-tenancy off every route is the built-in tenant's).
async fn no_tenancy(stack: &Stack, windows: Windows) -> anyhow::Result<load::Costed> {
    let instance = stack.instance()?;
    let database = instance.url("tenantry_solo");
    let config = stack.dir.path().join("no-tenancy.yaml");
    std::fs::write(
        &config,
        format!(
            "data_dir: {}\nadmin:\n  api_key: {}\nlog:\n  level: warn\nregistry:\n  url: {database}\n\
             isolation:\n  default: schema\nmultitenancy:\n  enabled: false\n",
            stack.dir.path().join("no-tenancy").display(),
            stack.key,
        ),
    )?;
    let server = stack.serve_config(&config, false)?;
    psql(&database, &insert_hosts("hosts"))?;
    let operator = HeaderValue::from_str(&format!("Bearer {}", stack.key))?;
    let target = Target::get(
        format!("{}/api/v1/hosts?limit=20", server.url),
        vec![operator],
    );
    let costed = load::costed(
        target,
        CONNECTIONS,
        windows.warmup,
        windows.measure,
        server.pid(),
    )
    .await;
    server.stop();
    costed
}

/// An INSERT of one tenant's hosts into `table`.
fn insert_hosts(table: &str) -> String {
    format!(
        "INSERT INTO {table} (id, hostname, os, labels, created_at) \
         SELECT gen_random_uuid(), 'host-' || g, 'debian 12', '{{}}', now() \
         FROM generate_series(1, {HOSTS_PER_TENANT}) g;\n"
    )
}

/// Hosts written straight into each tenant's table (an API call per host would take
/// minutes at 10,000 tenants and measures nothing the read does not).
pub(crate) fn seed_hosts(
    stack: &Stack,
    mode: Mode,
    range: std::ops::RangeInclusive<usize>,
) -> anyhow::Result<()> {
    let insert = insert_hosts;
    let mut script = String::new();
    for i in range {
        let physical = format!("t_{}", slug(i));
        match mode {
            Mode::Schema => script.push_str(&insert(&format!("{physical}.hosts"))),
            Mode::Database => {
                script.push_str(&format!("\\connect {physical}\n"));
                script.push_str(&insert("hosts"));
            }
            Mode::File => bail!("read runs on PostgreSQL"),
        }
    }
    let db = match mode {
        Mode::Schema => "tenantry_pool",
        _ => "postgres",
    };
    psql(&stack.instance()?.url(db), &script)
}

fn psql(url: &str, script: &str) -> anyhow::Result<()> {
    let file = tempfile::NamedTempFile::new()?;
    std::fs::write(file.path(), script)?;
    let out = Command::new(tenantry_testkit::pg::bindir().join("psql"))
        .args(["-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f"])
        .arg(file.path())
        .output()?;
    if !out.status.success() {
        bail!("psql: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// One tenant-admin token per tenant, minted by the server.
pub(crate) async fn tenant_tokens(
    server: &Server,
    range: std::ops::RangeInclusive<usize>,
) -> anyhow::Result<Vec<HeaderValue>> {
    let tokens: Vec<anyhow::Result<HeaderValue>> = stream::iter(range)
        .map(|i| async move {
            let path = format!("/api/v1/tenants/{}/admin-token", slug(i));
            let issued = server.post_json(&path, &server.key, &json!({})).await?;
            let token = issued["token"].as_str().context("no token")?;
            Ok(HeaderValue::from_str(&format!("Bearer {token}"))?)
        })
        .buffered(8)
        .collect()
        .await;
    tokens.into_iter().collect()
}

/// Agent check-ins: one enrolled host per tenant, a host chosen at random per request.
async fn checkins(server: &Server, tenants: usize, windows: Windows) -> anyhow::Result<Load> {
    let credentials: Vec<anyhow::Result<HeaderValue>> = stream::iter(1..=tenants)
        .map(|i| async move {
            let path = format!("/api/v1/tenants/{}/enrollment-tokens", slug(i));
            let issued = server.post_json(&path, &server.key, &json!({})).await?;
            let token = issued["token"].as_str().context("no token")?.to_owned();
            let body = json!({
                "machine_id": format!("bench-machine-{i}"),
                "facts": { "hostname": format!("agent-{i}") },
            });
            let enrolled = server
                .post_json("/api/v1/agent/enroll", &token, &body)
                .await?;
            let credential = enrolled["credential"].as_str().context("no credential")?;
            Ok(HeaderValue::from_str(&format!("Bearer {credential}"))?)
        })
        .buffered(8)
        .collect()
        .await;
    let target = Target {
        method: Method::POST,
        json_body: Some(b"{}".to_vec()),
        ..Target::get(
            format!("{}/api/v1/agent/checkin", server.url),
            credentials.into_iter().collect::<anyhow::Result<_>>()?,
        )
    };
    load::run(target, CONNECTIONS, windows.warmup, windows.measure).await
}

/// `pgbench` with the same SELECT, concurrency and prepared statements, spread over the
/// same tenants. Schema mode: one database; each transaction picks a tenant at random and
/// points `search_path` at it (as the server does per request) with `set_config`, which —
/// unlike `SET` — can be a prepared statement. Database mode: a connection is bound to one
/// database, so the 32 connections are spread evenly over up to 32 tenant databases, one
/// pgbench per database, all at once. Returns (tps, mean latency in ms).
fn pgbench(
    stack: &Stack,
    mode: Mode,
    tenants: usize,
    windows: Windows,
    clients: usize,
) -> anyhow::Result<(f64, f64)> {
    let dir = tempfile::TempDir::new()?;
    let script = dir.path().join("read.sql");
    let mut runs: Vec<(String, usize)> = Vec::new();
    match mode {
        Mode::Schema => {
            std::fs::write(
                &script,
                format!(
                    "\\set n random(1, {tenants})\nSELECT set_config('search_path', 't_b' || :n, false);\n{HOSTS_QUERY};\n"
                ),
            )?;
            runs.push((stack.instance()?.url("tenantry_pool"), clients));
        }
        Mode::Database => {
            std::fs::write(&script, format!("{HOSTS_QUERY};\n"))?;
            let dbs = tenants.min(clients);
            for d in 0..dbs {
                let share = clients / dbs + usize::from(d < clients % dbs);
                runs.push((stack.instance()?.url(&format!("t_{}", slug(d + 1))), share));
            }
        }
        Mode::File => bail!("pgbench runs on PostgreSQL"),
    }
    let seconds = (windows.warmup + windows.measure).as_secs().max(1);
    let children: Vec<std::process::Child> = runs
        .iter()
        .map(|(url, clients)| {
            Command::new(tenantry_testkit::pg::bindir().join("pgbench"))
                .args(["-n", "-M", "prepared", "-j", "1"])
                .arg(format!("-c{clients}"))
                .arg(format!("-T{seconds}"))
                .arg("-f")
                .arg(&script)
                .arg(url)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .context("starting pgbench")
        })
        .collect::<anyhow::Result<_>>()?;
    let mut tps = 0.0;
    let mut latency_sum = 0.0;
    let mut weights = 0.0;
    for child in children {
        let out = child.wait_with_output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            bail!("pgbench: {}{}", text, String::from_utf8_lossy(&out.stderr));
        }
        let t = number_after(&text, "tps = ").context("no tps in pgbench output")?;
        let l = number_after(&text, "latency average = ").unwrap_or(0.0);
        tps += t;
        latency_sum += l * t;
        weights += t;
    }
    Ok((tps, latency_sum / weights.max(f64::MIN_POSITIVE)))
}

fn number_after(text: &str, marker: &str) -> Option<f64> {
    let rest = &text[text.find(marker)? + marker.len()..];
    rest.split_whitespace().next()?.parse().ok()
}

/// Samples the instance's connections to tenant storage until stopped.
struct ConnectionSampler {
    running: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl ConnectionSampler {
    fn start(url: String) -> ConnectionSampler {
        let running = Arc::new(AtomicBool::new(true));
        let peak = Arc::new(AtomicU64::new(0));
        let (r, p) = (Arc::clone(&running), Arc::clone(&peak));
        let task = tokio::task::spawn_blocking(move || {
            // What the budget bounds: connections to tenant storage (each tenant's database,
            // or the shared schema-mode database), not the provisioner's admin connections.
            let sql = "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' \
                       AND (datname LIKE 't\\_%' OR datname = 'tenantry_pool') AND pid <> pg_backend_pid()";
            while r.load(Ordering::Relaxed) {
                let started = Instant::now();
                if let Ok(out) = Command::new(tenantry_testkit::pg::bindir().join("psql"))
                    .args(["-At", "-d", &url, "-c", sql])
                    .output()
                    && let Ok(n) = String::from_utf8_lossy(&out.stdout).trim().parse::<u64>()
                {
                    p.fetch_max(n, Ordering::Relaxed);
                }
                // A bench, not a test: a fixed sampling period is the point here.
                std::thread::sleep(Duration::from_millis(200).saturating_sub(started.elapsed()));
            }
        });
        ConnectionSampler {
            running,
            peak,
            task,
        }
    }

    async fn stop(self) -> u64 {
        self.running.store(false, Ordering::Relaxed);
        let _ = self.task.await;
        self.peak.load(Ordering::Relaxed)
    }
}
