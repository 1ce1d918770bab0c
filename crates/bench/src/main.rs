//! `tenantry-bench`: starts its own PostgreSQL clusters and a release `tenantry` server,
//! drives real load at it over loopback, prints a table, writes `bench/results/<UTC>.json`
//! and refreshes `docs/benchmarks.md`. Everything it starts, it stops.

mod provision;
mod report;
mod server;

use std::process::ExitCode;

use clap::{Parser, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Suite {
    All,
    Provision,
}

#[derive(Parser)]
#[command(about = "Tenantry benchmarks; run through scripts/bench")]
struct Args {
    #[arg(value_enum, default_value = "all")]
    suite: Suite,
    /// Tenants to create per isolation mode.
    #[arg(long, default_value_t = 1000)]
    tenants: usize,
    /// Tenants in database mode (each one is a whole PostgreSQL database).
    #[arg(long, default_value_t = 300)]
    database_tenants: usize,
    /// Where the repository is (results and docs are written there).
    #[arg(long, default_value = ".")]
    repo: std::path::PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let mut report = report::Report::new();
    if matches!(args.suite, Suite::All | Suite::Provision) {
        for (mode, n) in [
            (server::Mode::File, args.tenants),
            (server::Mode::Schema, args.tenants),
            (server::Mode::Database, args.database_tenants),
        ] {
            eprintln!("provision: {n} tenants in {} mode", mode.name());
            report.provision.push(provision::run(mode, n).await?);
        }
    }
    report.print();
    report.save(&args.repo)?;
    Ok(())
}
