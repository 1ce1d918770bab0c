//! `tenantry verify-routing`: works on the databases directly, like `migrate`.

use std::path::PathBuf;
use std::process::ExitCode;

use tenantry_server::core::Core;
use tenantry_server::{config, telemetry, verify};

use crate::output::table;

#[derive(clap::Args)]
pub struct Args {
    /// Configuration file (default: $TENANTRY_CONFIG, else ./tenantry.yaml if present).
    #[arg(long, short)]
    config: Option<PathBuf>,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = config::load(args.config.as_deref())?;
    let mut log = config.log.clone();
    log.level = "warn".into();
    telemetry::init(&log);
    let core = Core::open(config).await?;
    let report = verify::run(&core).await;
    core.close().await;
    let report = report?;
    let rows: Vec<Vec<String>> = report
        .rows
        .iter()
        .map(|r| {
            vec![
                r.tenant.clone(),
                r.instance.clone(),
                r.isolation.to_string(),
                r.hosts.map(|n| n.to_string()).unwrap_or_else(|| "-".into()),
                r.templates
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "-".into()),
                r.sessions
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "-".into()),
                match &r.error {
                    Some(e) => format!("error: {e}"),
                    None => r.status.to_string(),
                },
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &[
                "TENANT",
                "INSTANCE",
                "ISOLATION",
                "HOSTS",
                "TEMPLATES",
                "SESSIONS",
                "STATUS"
            ],
            &rows
        )
    );
    if report.ok() {
        println!(
            "routing verified: every host, template and session is in its own tenant's storage and nowhere else"
        );
        return Ok(ExitCode::SUCCESS);
    }
    for m in &report.misplaced {
        eprintln!("misplaced: {m}");
    }
    for r in report.rows.iter().filter(|r| r.error.is_some()) {
        eprintln!(
            "unreadable: tenant {}: {}",
            r.tenant,
            r.error.as_deref().unwrap_or("")
        );
    }
    eprintln!("error: routing verification failed");
    Ok(ExitCode::FAILURE)
}
