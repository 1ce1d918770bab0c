//! `tenantry`: the server, the migrator and the operator's command line, in one binary.

mod agent;
mod commands;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "tenantry",
    version,
    about = "Multi-tenant control plane and data router"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the embedded SQLite default needs no configuration).
    Serve {
        /// Configuration file (default: $TENANTRY_CONFIG, else ./tenantry.yaml if present).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Serve HTTPS with a CA and certificate made under the data directory on the first
        /// start (`server.tls.self_signed: true`); the CA's fingerprint is printed.
        #[arg(long)]
        dev_tls: bool,
    },
    /// Apply the registry, shared and tenant migration chains, directly on the databases.
    Migrate(commands::migrate::Args),
    /// Run the fleet agent on this machine: enroll into a tenant, then check in.
    Agent(agent::Args),
    /// Set up least-privilege provisioning on every instance and in OpenBAO (idempotent).
    ProvisionBootstrap(commands::bootstrap::Args),
    /// Prove from the databases that every tenant's hosts are in its own storage only.
    VerifyRouting(commands::verify::Args),
    /// Manage tenants on a running server.
    #[command(subcommand)]
    Tenants(commands::tenants::Command),
    /// Named plans (limits tenants get unless their own override them), on a running server.
    #[command(subcommand)]
    Plans(commands::plans::Command),
    /// Enrollment tokens for agents, on a running server.
    #[command(subcommand)]
    Tokens(commands::tokens::Command),
    /// Keypairs and tenant tokens (locally), and the trust store (on a running server).
    #[command(subcommand)]
    Keys(commands::keys::Command),
    /// Manage the domains that route to a tenant, on a running server.
    #[command(subcommand)]
    Domains(commands::domains::Command),
}

/// mimalloc: a request allocates and frees many small buffers; glibc's malloc was ~13 % of
/// the server's CPU samples on the read path (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Every TLS client and server of the process uses rustls with `ring`.
    tenantry_server::tls::install_default_provider();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve { config, dev_tls } => commands::serve::run(config, dev_tls).await,
            Command::Migrate(args) => commands::migrate::run(args).await,
            Command::Agent(args) => agent::run(args).await,
            Command::ProvisionBootstrap(args) => commands::bootstrap::run(args).await,
            Command::VerifyRouting(args) => commands::verify::run(args).await,
            Command::Tenants(cmd) => commands::tenants::run(cmd).await,
            Command::Plans(cmd) => commands::plans::run(cmd).await,
            Command::Domains(cmd) => commands::domains::run(cmd).await,
            Command::Keys(cmd) => commands::keys::run(cmd).await,
            Command::Tokens(cmd) => commands::tokens::run(cmd).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            // Each cause once: errors that quote their source would repeat it in `{e:#}`.
            eprintln!("error: {}", tenantry_client::causes(&*e));
            ExitCode::FAILURE
        }
    }
}
