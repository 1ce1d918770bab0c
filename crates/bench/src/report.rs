//! Results: a table on stdout, JSON under `bench/results/`, and `docs/benchmarks.md`.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::provision::Provision;

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
}

impl Report {
    pub fn new() -> Report {
        Report {
            at: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            machine: machine(),
            provision: Vec::new(),
        }
    }

    fn table(&self) -> String {
        let mut out = String::from(
            "| mode | tenants | create p50 | create p99 | create mean | migrate, all current | migrate, one new migration |\n|---|---|---|---|---|---|---|\n",
        );
        for p in &self.provision {
            out.push_str(&format!(
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
        out
    }

    pub fn print(&self) {
        println!("{}", self.table());
    }

    pub fn save(&self, repo: &Path) -> anyhow::Result<()> {
        let results = repo.join("bench/results");
        std::fs::create_dir_all(&results)?;
        let file = results.join(format!("{}.json", self.at.replace(':', "")));
        std::fs::write(&file, serde_json::to_string_pretty(self)?)?;
        let docs = repo.join("docs/benchmarks.md");
        let current = std::fs::read_to_string(&docs).unwrap_or_default();
        let begin = "<!-- latest:begin -->";
        let end = "<!-- latest:end -->";
        let latest = format!(
            "{begin}\nLatest run: {} on {}.\n\n{}{end}",
            self.at,
            self.machine,
            self.table()
        );
        let updated = match (current.find(begin), current.find(end)) {
            (Some(b), Some(e)) if b < e => {
                format!("{}{latest}{}", &current[..b], &current[e + end.len()..])
            }
            _ => format!("{current}\n{latest}\n"),
        };
        std::fs::write(&docs, updated)?;
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
