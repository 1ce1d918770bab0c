//! A small closed-loop HTTP load generator: `concurrency` workers, each with its own
//! keep-alive connection, send requests back to back (or, paced, at most at a set rate),
//! each to a tenant chosen at random (one credential per tenant), for a warm-up and then a
//! measured window.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde::Serialize;

use crate::process;
use crate::report::Latency;

/// What every request looks like, except for whose credential it carries.
#[derive(Clone)]
pub struct Target {
    pub method: Method,
    pub url: String,
    /// `Bearer …` for each tenant; each request picks one at random.
    pub credentials: Vec<HeaderValue>,
    pub json_body: Option<Vec<u8>>,
    /// For `https://` URLs: whom to trust.
    pub tls: Option<rustls::ClientConfig>,
    /// One connection per worker for the whole run; without, a new connection (and TLS
    /// handshake) per request.
    pub keep_alive: bool,
    /// Each worker sends at most one request per this interval (none: back to back).
    pub pace: Option<Duration>,
}

impl Target {
    /// `GET url`, over kept-alive connections.
    pub fn get(url: String, credentials: Vec<HeaderValue>) -> Target {
        Target {
            method: Method::GET,
            url,
            credentials,
            json_body: None,
            tls: None,
            keep_alive: true,
            pace: None,
        }
    }

    /// At most `per_second` requests a second from `workers` workers together.
    pub fn paced(mut self, per_second: u32, workers: usize) -> Target {
        let per_worker = f64::from(per_second.max(1)) / workers.max(1) as f64;
        self.pace = Some(Duration::from_secs_f64(1.0 / per_worker));
        self
    }
}

/// A measured load and the CPU each side spent on it.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Costed {
    pub load: Load,
    /// CPU (user + system) the server spent per request, in µs.
    pub server_cpu_us: f64,
    /// CPU this process (the load generator) spent per request, in µs.
    pub generator_cpu_us: f64,
}

/// Runs the warm-up, then the measured window with both processes' CPU read around it
/// alone (new connections at its start: `concurrency` handshakes, nothing next to the
/// requests of a window).
pub async fn costed(
    target: Target,
    concurrency: usize,
    warmup: Duration,
    measure: Duration,
    server_pid: u32,
) -> anyhow::Result<Costed> {
    run(target.clone(), concurrency, Duration::ZERO, warmup).await?;
    let me = std::process::id();
    let before = (process::cpu_ms(server_pid), process::cpu_ms(me));
    let load = run(target, concurrency, Duration::ZERO, measure).await?;
    let after = (process::cpu_ms(server_pid), process::cpu_ms(me));
    let per_request = |b: f64, a: f64| (a - b) * 1e3 / (load.requests.max(1) as f64);
    Ok(Costed {
        load,
        server_cpu_us: per_request(before.0, after.0),
        generator_cpu_us: per_request(before.1, after.1),
    })
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Load {
    pub concurrency: usize,
    pub seconds: f64,
    pub requests: u64,
    /// Answers other than 2xx, and transport errors.
    pub errors: u64,
    pub rps: f64,
    pub latency: Latency,
}

pub async fn run(
    target: Target,
    concurrency: usize,
    warmup: Duration,
    measure: Duration,
) -> anyhow::Result<Load> {
    let target = Arc::new(target);
    let start = Instant::now() + warmup;
    let end = start + measure;
    let mut workers = Vec::with_capacity(concurrency);
    for worker in 0..concurrency {
        let target = Arc::clone(&target);
        let mut builder = reqwest::Client::builder()
            .pool_max_idle_per_host(usize::from(target.keep_alive))
            .tcp_nodelay(true);
        if let Some(tls) = &target.tls {
            builder = builder.tls_backend_preconfigured(tls.clone());
        }
        let client = builder.build()?;
        workers.push(tokio::spawn(async move {
            let mut rng = Rng::seeded(worker as u64);
            let mut samples = Vec::with_capacity(1 << 16);
            let mut errors = 0u64;
            let mut due = Instant::now();
            loop {
                if let Some(pace) = target.pace {
                    // Open loop: a late answer does not lower the rate, it only stops
                    // the worker from catching up by more than one request.
                    tokio::time::sleep_until(due.into()).await;
                    let floor = Instant::now().checked_sub(pace).unwrap_or(due);
                    due = due.max(floor) + pace;
                }
                let sent = Instant::now();
                if sent >= end {
                    break;
                }
                let pick = rng.below(target.credentials.len());
                let mut req = client
                    .request(target.method.clone(), &target.url)
                    .header(AUTHORIZATION, target.credentials[pick].clone());
                if let Some(body) = &target.json_body {
                    req = req
                        .header(CONTENT_TYPE, "application/json")
                        .body(body.clone());
                }
                let ok = match req.send().await {
                    Ok(response) => {
                        let ok = response.status().is_success();
                        // Read the whole answer: the server's work includes writing it.
                        response.bytes().await.is_ok() && ok
                    }
                    Err(_) => false,
                };
                if sent >= start {
                    samples.push(sent.elapsed());
                    if !ok {
                        errors += 1;
                    }
                }
            }
            (samples, errors)
        }));
    }
    let mut samples = Vec::new();
    let mut errors = 0;
    for w in workers {
        let (s, e) = w.await?;
        samples.extend(s);
        errors += e;
    }
    let requests = samples.len() as u64;
    let seconds = measure.as_secs_f64();
    Ok(Load {
        concurrency,
        seconds,
        requests,
        errors,
        rps: requests as f64 / seconds,
        latency: Latency::of(&mut samples),
    })
}

/// xorshift64*: uniform enough to spread requests, and free of any dependency.
struct Rng(u64);

impl Rng {
    fn seeded(worker: u64) -> Rng {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        Rng((nanos ^ worker.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1)
    }

    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1) as u64) as usize
    }
}
