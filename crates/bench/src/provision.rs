//! `provision`: create→ready latency of new tenants, and `migrate` over all of them — up to
//! date, then with one new tenant migration.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;

use crate::report::Latency;
use crate::server::{Mode, Stack};

#[derive(Debug, Serialize)]
pub struct Provision {
    pub mode: String,
    pub tenants: usize,
    /// POST /api/v1/tenants until the 201 (the tenant is ready then).
    pub create: Latency,
    /// `tenantry migrate` with every tenant current (registry records, no connection).
    pub migrate_up_to_date_s: f64,
    /// `tenantry migrate` applying one new tenant migration everywhere.
    pub migrate_one_new_s: f64,
}

pub async fn run(mode: Mode, tenants: usize, openbao: bool) -> anyhow::Result<Provision> {
    let stack = Stack::new(mode, openbao)?;
    let server = stack.serve()?;
    let mut samples = Vec::with_capacity(tenants);
    for i in 0..tenants {
        let body = serde_json::json!({ "slug": format!("bench-{i}") });
        let started = Instant::now();
        let response = server
            .http
            .post(format!("{}/api/v1/tenants", server.url))
            .bearer_auth(&server.key)
            .json(&body)
            .send()
            .await?;
        let took = started.elapsed();
        if response.status() != reqwest::StatusCode::CREATED {
            bail!(
                "creating tenant {i}: {}",
                response.text().await.unwrap_or_default()
            );
        }
        samples.push(took);
    }
    server.stop();

    let up_to_date = timed(|| stack.run(&["migrate", "--concurrency", "4"], &[]))?;
    let scratch = tempfile::TempDir::new()?;
    let migrations = with_extra_migration(scratch.path())?;
    let one_new = timed(|| {
        stack.run(
            &["migrate", "--concurrency", "4"],
            &[("TENANTRY_MIGRATIONS__DIR", &migrations)],
        )
    })?;
    Ok(Provision {
        mode: stack.label(),
        tenants,
        create: Latency::of(&mut samples),
        migrate_up_to_date_s: up_to_date.as_secs_f64(),
        migrate_one_new_s: one_new.as_secs_f64(),
    })
}

fn timed(f: impl FnOnce() -> anyhow::Result<std::process::Output>) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let out = f()?;
    let took = started.elapsed();
    if !out.status.success() {
        bail!(
            "tenantry migrate failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(took)
}

/// A copy of the repository's migrations with one more tenant migration.
fn with_extra_migration(scratch: &Path) -> anyhow::Result<std::path::PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
    let dst = scratch.join("migrations");
    let status = std::process::Command::new("cp")
        .arg("-r")
        .arg(&src)
        .arg(&dst)
        .status()?;
    if !status.success() {
        bail!("copying {}", src.display());
    }
    for backend in ["sqlite", "postgres"] {
        std::fs::write(
            dst.join(backend)
                .join("tenant")
                .join("9000_bench_notes.sql"),
            "ALTER TABLE hosts ADD COLUMN bench_notes TEXT;\n",
        )
        .context("writing the extra migration")?;
    }
    Ok(dst)
}
