//! `noisy`: tenant A floods at ten times its rate while ten neighbours run the normal
//! read load (`GET /api/v1/hosts?limit=20`); how much the neighbours' p99 moves against the
//! same load without A (target ≤ 20 %). And what the limiter costs: server CPU per request
//! for tenants with a rate set (high enough never to refuse) against tenants without one.
//! Schema mode (one shared pool per instance: where neighbours meet), in process and with
//! Redis.

use serde::Serialize;
use serde_json::json;

use crate::load::{self, Load, Target};
use crate::read::{self, Windows};
use crate::server::{Mode, Server, Stack};

/// A's rate; its generator sends ten times as many (the flood).
const NOISY_RATE: u32 = 100;
const FLOOD: u32 = 10 * NOISY_RATE;
const NEIGHBOURS: usize = 10;
/// Workers for A, and for the neighbours (each side).
const WORKERS: usize = 16;
/// Rounds of (neighbours alone, neighbours next to A), interleaved: one pair varies by more
/// than the target on this machine, the median of several less.
const ROUNDS: usize = 3;

#[derive(Debug, Serialize)]
pub struct Noisy {
    pub limiter: String,
    /// The neighbours alone, then next to A's flood.
    pub neighbours_alone: Load,
    pub neighbours_with_a: Load,
    /// neighbours' p99 next to A ÷ alone: the median round's.
    pub p99_ratio: f64,
    /// Every round's ratio, in the order they ran.
    pub rounds: Vec<f64>,
    /// A's requests: how many got in, how many were refused (429).
    pub a: Load,
    pub a_admitted_per_s: f64,
    /// Server CPU per request with a rate set minus without, in µs.
    pub limiter_cpu_us: f64,
}

pub async fn run(windows: Windows, redis: bool) -> anyhow::Result<Noisy> {
    let mut stack = Stack::new(Mode::Schema, false)?;
    let redis_server = redis.then(tenantry_testkit::redis::RedisServer::start);
    if let Some(r) = &redis_server {
        stack.env.push(("TENANTRY_CACHE__URL".into(), r.url()));
    }
    let limiter = if redis { "Redis" } else { "in process" }.to_owned();
    let server = stack.serve()?;
    let all = 1..=NEIGHBOURS + 1;
    read::create_tenants(&server, all.clone()).await?;
    read::seed_hosts(&stack, Mode::Schema, all.clone())?;
    let tokens = read::tenant_tokens(&server, all).await?;
    let (a_token, neighbour_tokens) = tokens
        .split_first()
        .ok_or_else(|| anyhow::anyhow!("no tokens"))?;
    let hosts = format!("{}/api/v1/hosts?limit=20", server.url);
    let neighbours = Target::get(hosts.clone(), neighbour_tokens.to_vec());
    let a = Target::get(hosts, vec![a_token.clone()]).paced(FLOOD, WORKERS);

    eprintln!("noisy/{limiter}: the limiter's cost");
    let neighbours_cost = || {
        load::costed(
            neighbours.clone(),
            WORKERS,
            windows.warmup,
            windows.measure,
            server.pid(),
        )
    };
    let unlimited = neighbours_cost().await?;
    for i in 2..=NEIGHBOURS + 1 {
        set_limits(
            &server,
            i,
            json!({ "requests_per_second": 1_000_000, "burst": 1_000_000 }),
        )
        .await?;
    }
    let limited = neighbours_cost().await?;

    eprintln!("noisy/{limiter}: neighbours alone, then next to A");
    set_limits(
        &server,
        1,
        json!({ "requests_per_second": NOISY_RATE, "burst": NOISY_RATE }),
    )
    .await?;
    let mut rounds = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let alone = load::run(neighbours.clone(), WORKERS, windows.warmup, windows.measure).await?;
        let (with_a, a_load) = tokio::join!(
            load::run(neighbours.clone(), WORKERS, windows.warmup, windows.measure),
            load::run(a.clone(), WORKERS, windows.warmup, windows.measure),
        );
        let (with_a, a_load) = (with_a?, a_load?);
        let ratio = with_a.latency.p99_ms / alone.latency.p99_ms.max(f64::MIN_POSITIVE);
        eprintln!("noisy/{limiter}: round p99 ratio {ratio:.2}");
        rounds.push((ratio, alone, with_a, a_load));
    }
    server.stop();
    let ratios: Vec<f64> = rounds.iter().map(|r| r.0).collect();
    rounds.sort_by(|x, y| x.0.total_cmp(&y.0));
    let (p99_ratio, alone, with_a, a_load) = rounds.swap_remove(ROUNDS / 2);
    let admitted = a_load.requests - a_load.errors;
    Ok(Noisy {
        limiter,
        p99_ratio,
        rounds: ratios,
        neighbours_alone: alone,
        neighbours_with_a: with_a,
        a_admitted_per_s: admitted as f64 / a_load.seconds.max(f64::MIN_POSITIVE),
        a: a_load,
        limiter_cpu_us: limited.server_cpu_us - unlimited.server_cpu_us,
    })
}

async fn set_limits(
    server: &Server,
    tenant: usize,
    limits: serde_json::Value,
) -> anyhow::Result<()> {
    let response = server
        .http
        .patch(format!("{}/api/v1/tenants/b{tenant}", server.url))
        .bearer_auth(&server.key)
        .json(&json!({ "limits": limits }))
        .send()
        .await?;
    // The PATCH answers once the server published the new limits to its routing.
    anyhow::ensure!(
        response.status().is_success(),
        "PATCH limits: {}",
        response.status()
    );
    Ok(())
}
