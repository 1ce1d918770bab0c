//! `tenantry-bench`: starts its own PostgreSQL clusters and a release `tenantry` server,
//! drives real load at it over loopback, prints a table, writes `bench/results/<UTC>.json`
//! and refreshes `docs/benchmarks.md`. Everything it starts, it stops.

mod load;
mod noisy;
mod process;
mod provision;
mod read;
mod report;
mod server;
mod tls;

use std::process::ExitCode;

use clap::{Parser, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Suite {
    All,
    /// Routed GET /api/v1/hosts vs pgbench, database and schema mode.
    Read,
    /// Agent check-ins over 1,000 tenants.
    Write,
    /// Create→ready latency (and the migrate timings).
    Provision,
    /// `tenantry migrate` over current tenants and with one new migration (part of provision).
    Migrate,
    /// RSS and connections at 10,000 schema-mode tenants.
    Memory,
    /// A tenant flooding at many times its rate next to ten neighbours; the limiter's cost.
    Noisy,
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
    /// Tenant counts for the read suite in database mode.
    #[arg(long, value_delimiter = ',', default_values_t = [10, 1000])]
    read_database: Vec<usize>,
    /// Tenant counts for the read suite in schema mode.
    #[arg(long, value_delimiter = ',', default_values_t = [10, 10000])]
    read_schema: Vec<usize>,
    /// Tenants the write suite spreads check-ins over.
    #[arg(long, default_value_t = 1000)]
    write_tenants: usize,
    /// Seconds of load before measuring.
    #[arg(long, default_value_t = 5)]
    warmup: u64,
    /// Seconds of measured load.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Run with per-tenant credentials from a throwaway OpenBAO (`provision-bootstrap`, no
    /// superuser in the server) instead of shared instance credentials.
    #[arg(long)]
    openbao: bool,
    /// Skip the read suite's HTTPS column (the same reads over TLS, and the handshake rate).
    #[arg(long)]
    no_tls: bool,
    /// Where the repository is (results and docs are written there).
    #[arg(long, default_value = ".")]
    repo: std::path::PathBuf,
}

fn main() -> ExitCode {
    // reqwest is built without a TLS provider of its own: rustls with `ring`, as the server.
    #[allow(deprecated)]
    let _ =
        rustls::crypto::CryptoProvider::install_default(rustls::crypto::ring::default_provider());
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
    let mut report = report::Report::new(args.openbao);
    let windows = read::Windows {
        warmup: std::time::Duration::from_secs(args.warmup),
        measure: std::time::Duration::from_secs(args.seconds),
    };
    let suite = args.suite;
    let any = |of: &[Suite]| suite == Suite::All || of.contains(&suite);
    // Each PostgreSQL mode grows one stack through the tenant counts its suites need:
    // reads at every count, check-ins at the write count, memory at the largest.
    let memory = any(&[Suite::Memory]);
    let writes = any(&[Suite::Write]);
    let reads = any(&[Suite::Read]);
    for (mode, read_counts) in [
        (server::Mode::Database, &args.read_database),
        (server::Mode::Schema, &args.read_schema),
    ] {
        let mut counts = if reads {
            read_counts.clone()
        } else {
            Vec::new()
        };
        if memory && mode == server::Mode::Schema {
            counts.push(read_counts.iter().copied().max().unwrap_or(10_000));
        }
        if writes {
            counts.push(args.write_tenants);
        }
        counts.sort_unstable();
        counts.dedup();
        if counts.is_empty() {
            continue;
        }
        let reads_too = reads || (memory && mode == server::Mode::Schema);
        let write_at = writes.then_some(args.write_tenants);
        let tls = reads && !args.no_tls;
        let found = read::run(
            mode,
            &counts,
            windows,
            reads_too,
            write_at,
            args.openbao,
            tls,
        )
        .await?;
        report.read.extend(found.reads);
        report.tls.extend(found.tls);
        report.write.extend(found.write);
    }
    if any(&[Suite::Noisy]) {
        for redis in [false, true] {
            report.noisy.push(noisy::run(windows, redis).await?);
        }
    }
    if any(&[Suite::Provision, Suite::Migrate]) {
        for (mode, n) in [
            (server::Mode::File, args.tenants),
            (server::Mode::Schema, args.tenants),
            (server::Mode::Database, args.database_tenants),
        ] {
            if args.openbao && mode == server::Mode::File {
                continue;
            }
            eprintln!("provision: {n} tenants in {} mode", mode.name());
            report
                .provision
                .push(provision::run(mode, n, args.openbao).await?);
        }
    }
    report.print();
    report.save(&args.repo)?;
    Ok(())
}
