//! Results: a table on stdout, JSON under `bench/results/`, and `docs/benchmarks.md`.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::noisy::Noisy;
use crate::provision::Provision;
use crate::read::{Read, Write};
use crate::tls::TlsRead;

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub mean_ms: f64,
}

impl Latency {
    pub fn of(samples: &mut [Duration]) -> Latency {
        samples.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let at = |q: f64| {
            samples
                .get(((samples.len() as f64 * q).ceil() as usize).saturating_sub(1))
                .copied()
                .map(ms)
                .unwrap_or(0.0)
        };
        let mean = if samples.is_empty() {
            0.0
        } else {
            samples.iter().copied().map(ms).sum::<f64>() / samples.len() as f64
        };
        Latency {
            p50_ms: at(0.50),
            p99_ms: at(0.99),
            mean_ms: mean,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub at: String,
    pub machine: String,
    pub provision: Vec<Provision>,
    pub read: Vec<Read>,
    /// The read suite's HTTPS column.
    pub tls: Vec<TlsRead>,
    pub noisy: Vec<Noisy>,
    pub write: Vec<Write>,
    /// Credentials from OpenBAO: the results go to blocks of their own.
    pub openbao: bool,
}

impl Report {
    pub fn new(openbao: bool) -> Report {
        Report {
            at: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            machine: machine(),
            provision: Vec::new(),
            read: Vec::new(),
            tls: Vec::new(),
            noisy: Vec::new(),
            write: Vec::new(),
            openbao,
        }
    }

    /// The tables of the suites that ran, by the name of their block in docs/benchmarks.md.
    fn tables(&self) -> Vec<(&'static str, String)> {
        let mut tables = Vec::new();
        if !self.read.is_empty() {
            let mut t = String::from(
                "| mode | tenants | routed req/s | p50 | p99 | errors | pgbench tps | pgbench latency | routed/direct | added p50 | added p50, 1 client | peak PG connections / budget | RSS idle → after | server CPU/req | generator CPU/req | no tenancy: req/s, server CPU/req | routed/no-tenancy |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
            );
            for r in &self.read {
                t.push_str(&format!(
                    "| {} | {} | {:.0} | {:.2} ms | {:.2} ms | {} | {:.0} | {:.2} ms | {:.2} | {:.2} ms | {:.2} ms ({:.2} − {:.2}) | {} / {} | {:.0} → {:.0} MB | {:.0} µs | {:.0} µs | {:.0}, {:.0} µs | {:.2} |\n",
                    r.mode,
                    r.tenants,
                    r.routed.rps,
                    r.routed.latency.p50_ms,
                    r.routed.latency.p99_ms,
                    r.routed.errors,
                    r.direct_tps,
                    r.direct_latency_ms,
                    r.ratio,
                    r.added_p50_ms,
                    r.single_client_added_ms,
                    r.single_client_p50_ms,
                    r.single_client_direct_ms,
                    r.peak_pg_connections,
                    r.connection_budget,
                    r.rss_idle_mb,
                    r.rss_after_mb,
                    r.server_cpu_us_per_request,
                    r.generator_cpu_us_per_request,
                    r.no_tenancy_rps,
                    r.no_tenancy_server_cpu_us,
                    r.vs_no_tenancy,
                ));
            }
            tables.push(("read", t));
        }
        if !self.tls.is_empty() {
            let mut t = String::from(
                "| mode | tenants | HTTP req/s | HTTPS req/s | HTTPS p50 | HTTPS p99 | server CPU/req HTTP → HTTPS | TLS CPU overhead | new connections/s HTTP → HTTPS | server CPU per new connection HTTP → HTTPS |\n|---|---|---|---|---|---|---|---|---|---|\n",
            );
            for r in &self.tls {
                t.push_str(&format!(
                    "| {} | {} | {:.0} | {:.0} | {:.2} ms | {:.2} ms | {:.0} → {:.0} µs | {:+.1} % | {:.0} → {:.0} | {:.0} → {:.0} µs |\n",
                    r.mode,
                    r.tenants,
                    r.http.rps,
                    r.https.rps,
                    r.https.latency.p50_ms,
                    r.https.latency.p99_ms,
                    r.http_server_cpu_us,
                    r.https_server_cpu_us,
                    r.cpu_overhead * 100.0,
                    r.http_connections.rps,
                    r.handshakes.rps,
                    r.server_cpu_us_per_http_connection,
                    r.server_cpu_us_per_handshake,
                ));
            }
            tables.push(("read-tls", t));
        }
        if !self.noisy.is_empty() {
            let mut t = String::from(
                "| limiter | neighbours alone: req/s, p99 | next to A: req/s, p99 | p99 ratio (median; rounds) | A: sent/s, admitted/s | limiter CPU/req |\n|---|---|---|---|---|---|\n",
            );
            for n in &self.noisy {
                t.push_str(&format!(
                    "| {} | {:.0}, {:.2} ms | {:.0}, {:.2} ms | {:.2} ({}) | {:.0}, {:.0} | {:.1} µs |\n",
                    n.limiter,
                    n.neighbours_alone.rps,
                    n.neighbours_alone.latency.p99_ms,
                    n.neighbours_with_a.rps,
                    n.neighbours_with_a.latency.p99_ms,
                    n.p99_ratio,
                    n.rounds
                        .iter()
                        .map(|r| format!("{r:.2}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    n.a.rps,
                    n.a_admitted_per_s,
                    n.limiter_cpu_us,
                ));
            }
            tables.push(("noisy", t));
        }
        if !self.write.is_empty() {
            let mut t = String::from(
                "| mode | tenants | check-ins/s | p50 | p99 | errors |\n|---|---|---|---|---|---|\n",
            );
            for w in &self.write {
                t.push_str(&format!(
                    "| {} | {} | {:.0} | {:.2} ms | {:.2} ms | {} |\n",
                    w.mode,
                    w.tenants,
                    w.checkins.rps,
                    w.checkins.latency.p50_ms,
                    w.checkins.latency.p99_ms,
                    w.checkins.errors
                ));
            }
            tables.push(("write", t));
        }
        if !self.provision.is_empty() {
            let mut t = String::from(
                "| mode | tenants | create p50 | create p99 | create mean | migrate, all current | migrate, one new migration |\n|---|---|---|---|---|---|---|\n",
            );
            for p in &self.provision {
                t.push_str(&format!(
                    "| {} | {} | {:.1} ms | {:.1} ms | {:.1} ms | {:.2} s | {:.2} s |\n",
                    p.mode,
                    p.tenants,
                    p.create.p50_ms,
                    p.create.p99_ms,
                    p.create.mean_ms,
                    p.migrate_up_to_date_s,
                    p.migrate_one_new_s
                ));
            }
            tables.push(("provision", t));
        }
        tables
    }

    pub fn print(&self) {
        for (name, table) in self.tables() {
            println!("{name}\n{table}");
        }
    }

    pub fn save(&self, repo: &Path) -> anyhow::Result<()> {
        let results = repo.join("bench/results");
        std::fs::create_dir_all(&results)?;
        let file = results.join(format!("{}.json", self.at.replace(':', "")));
        std::fs::write(&file, serde_json::to_string_pretty(self)?)?;
        let docs = repo.join("docs/benchmarks.md");
        let mut text = std::fs::read_to_string(&docs).unwrap_or_default();
        // Each suite has its own block; a run replaces only the blocks of what it ran.
        for (name, table) in self.tables() {
            let name = if self.openbao {
                format!("{name}-openbao")
            } else {
                name.to_owned()
            };
            let begin = format!("<!-- latest:{name}:begin -->");
            let end = format!("<!-- latest:{name}:end -->");
            let block = format!(
                "{begin}\nLatest run: {} on {}.\n\n{table}{end}",
                self.at, self.machine
            );
            text = match (text.find(&begin), text.find(&end)) {
                (Some(b), Some(e)) if b < e => {
                    format!("{}{block}{}", &text[..b], &text[e + end.len()..])
                }
                _ => format!("{text}\n{block}\n"),
            };
        }
        std::fs::write(&docs, text)?;
        eprintln!("wrote {} and {}", file.display(), docs.display());
        Ok(())
    }
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cpus} cores ({model})")
}
