//! `tenantry migrate`: works on the databases directly, not through a server.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use tenantry_server::core::Core;
use tenantry_server::fanout::{self, Outcome, Plan, Progress};
use tenantry_server::migrator::Chain;
use tenantry_server::names::Slug;
use tenantry_server::{config, telemetry};

use crate::output::table;

#[derive(clap::Args)]
pub struct Args {
    /// Configuration file (default: $TENANTRY_CONFIG, else ./tenantry.yaml if present).
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Report every database's version and pending migrations; change nothing.
    #[arg(long, conflicts_with = "dry_run")]
    status: bool,
    /// Show what would be applied; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Only the registry and shared chains.
    #[arg(long, conflicts_with_all = ["tenants_only", "tenant"])]
    no_tenants: bool,
    /// Only the tenant chain (templates and tenants).
    #[arg(long)]
    tenants_only: bool,
    /// Only this tenant (repeatable); implies no template.
    #[arg(long = "tenant", value_name = "SLUG")]
    tenant: Vec<String>,
    /// Tenant databases migrated at once (default: migrations.concurrency).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    concurrency: Option<u16>,
    /// Connect to tenants the registry records as up to date, to check them too.
    #[arg(long)]
    verify: bool,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = config::load(args.config.as_deref())?;
    let mut log = config.log.clone();
    log.level = "warn".into();
    telemetry::init(&log);
    let only = args
        .tenant
        .iter()
        .map(|s| Slug::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    let plan = Plan {
        registry: !args.tenants_only && only.is_empty(),
        tenants: !args.no_tenants,
        only,
        dry_run: args.status || args.dry_run,
        verify: args.verify || args.status,
        concurrency: args
            .concurrency
            .map_or(config.migrations.concurrency, usize::from),
    };
    let core = Core::open(config).await?;

    let outcomes = if std::io::stderr().is_terminal() && !args.status {
        fanout::run(&core, &plan, &Bars::default()).await
    } else {
        fanout::run(
            &core,
            &plan,
            &Lines {
                dry_run: plan.dry_run,
            },
        )
        .await
    };
    core.close().await;

    if args.status || args.dry_run {
        print!("{}", status_table(&outcomes, args.dry_run));
    }
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| o.error.is_some()).collect();
    let changed = outcomes
        .iter()
        .filter(|o| matches!((&o.before, &o.after), (Some(b), Some(a)) if b.current != a.current))
        .count();
    let skipped = outcomes.iter().filter(|o| o.skipped).count();
    if !plan.dry_run {
        println!(
            "{} database(s): {changed} migrated, {} already current, {skipped} skipped (up to date in the registry), {} failed",
            outcomes.len(),
            outcomes.len() - changed - skipped - failed.len(),
            failed.len()
        );
    }
    if failed.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    for o in &failed {
        eprintln!(
            "failed: {} ({} chain): {}",
            o.target,
            o.chain,
            o.error.as_deref().unwrap_or("")
        );
    }
    let names: Vec<&str> = failed.iter().map(|o| o.target.as_str()).collect();
    eprintln!("error: migration failed for: {}", names.join(", "));
    Ok(ExitCode::FAILURE)
}

fn status_table(outcomes: &[Outcome], dry_run: bool) -> String {
    let rows: Vec<Vec<String>> = outcomes
        .iter()
        .map(|o| {
            let (current, latest, state) = match (&o.error, &o.before) {
                (Some(e), _) => ("?".into(), "?".into(), format!("error: {e}")),
                (None, Some(s)) if s.pending.is_empty() => (
                    s.current.to_string(),
                    s.latest.to_string(),
                    "current".into(),
                ),
                (None, Some(s)) => {
                    let names: Vec<String> =
                        s.pending.iter().map(|(v, d)| format!("{v} {d}")).collect();
                    let verb = if dry_run { "would apply" } else { "pending" };
                    (
                        s.current.to_string(),
                        s.latest.to_string(),
                        format!("{verb}: {}", names.join(", ")),
                    )
                }
                (None, None) => (
                    "-".into(),
                    "-".into(),
                    "current (by the registry's record)".into(),
                ),
            };
            vec![
                o.target.clone(),
                o.chain.to_string(),
                current,
                latest,
                state,
            ]
        })
        .collect();
    table(&["DATABASE", "CHAIN", "VERSION", "LATEST", "STATE"], &rows)
}

/// Plain lines, for logs and pipes.
struct Lines {
    dry_run: bool,
}

impl Progress for Lines {
    fn finished(&self, o: &Outcome) {
        if self.dry_run {
            return;
        }
        match (&o.error, &o.before, &o.after) {
            (Some(e), _, _) => println!("{} ({}): FAILED: {e}", o.target, o.chain),
            (None, Some(b), Some(a)) if b.current != a.current => {
                println!(
                    "{} ({}): migrated {} -> {}",
                    o.target, o.chain, b.current, a.current
                )
            }
            (None, Some(_), Some(a)) => {
                println!("{} ({}): current at {}", o.target, o.chain, a.current)
            }
            _ => println!(
                "{} ({}): skipped, up to date in the registry",
                o.target, o.chain
            ),
        }
    }
}

/// A spinner per database in flight and a bar over all tenants, on a terminal.
#[derive(Default)]
struct Bars {
    multi: MultiProgress,
    total: Mutex<Option<ProgressBar>>,
    running: Mutex<HashMap<String, ProgressBar>>,
}

impl Progress for Bars {
    fn planned(&self, total: usize) {
        let bar = self.multi.add(ProgressBar::new(total as u64));
        if let Ok(style) = ProgressStyle::with_template("tenants  [{bar:40}] {pos}/{len} {msg}") {
            bar.set_style(style.progress_chars("=> "));
        }
        if let Ok(mut t) = self.total.lock() {
            *t = Some(bar);
        }
    }

    fn started(&self, target: &str, chain: Chain) {
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_message(format!("{target} ({chain}): migrating"));
        bar.enable_steady_tick(Duration::from_millis(100));
        if let Ok(mut running) = self.running.lock() {
            running.insert(target.to_owned(), bar);
        }
    }

    fn finished(&self, o: &Outcome) {
        let bar = self
            .running
            .lock()
            .ok()
            .and_then(|mut r| r.remove(&o.target));
        let message = match (&o.error, &o.before, &o.after) {
            (Some(e), _, _) => format!("{} ({}): FAILED: {e}", o.target, o.chain),
            (None, Some(b), Some(a)) if b.current != a.current => {
                format!(
                    "{} ({}): migrated {} -> {}",
                    o.target, o.chain, b.current, a.current
                )
            }
            (None, Some(_), Some(a)) => {
                format!("{} ({}): current at {}", o.target, o.chain, a.current)
            }
            _ => format!("{} ({}): up to date in the registry", o.target, o.chain),
        };
        match bar {
            Some(bar) => bar.finish_with_message(message),
            None => {
                let _ = self.multi.println(message);
            }
        }
        if o.target.starts_with("tenant ")
            && let Ok(total) = self.total.lock()
            && let Some(total) = total.as_ref()
        {
            total.inc(1);
            if total.length() == Some(total.position()) {
                total.finish();
            }
        }
    }
}
