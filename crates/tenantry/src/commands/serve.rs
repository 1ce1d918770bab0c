use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use tenantry_server::app::Server;
use tenantry_server::fanout::{Outcome, Progress};
use tenantry_server::{config, telemetry};

/// Migration progress at start, as log lines.
struct LogProgress;

impl Progress for LogProgress {
    fn finished(&self, o: &Outcome) {
        match (&o.error, &o.before, &o.after) {
            (Some(error), _, _) => {
                tracing::error!(target_db = %o.target, chain = %o.chain, %error, "migration failed")
            }
            (None, Some(b), Some(a)) if b.current != a.current => {
                tracing::info!(target_db = %o.target, chain = %o.chain, from = b.current, to = a.current, "migrated")
            }
            _ => {}
        }
    }
}

pub async fn run(config_path: Option<PathBuf>, dev_tls: bool) -> anyhow::Result<ExitCode> {
    let mut config = config::load(config_path.as_deref())?;
    if dev_tls {
        config.server.tls = Some(config::ServerTls {
            self_signed: true,
            ..config::ServerTls::default()
        });
        config.validate()?;
    }
    telemetry::init(&config.log);
    let data_dir = config.data_dir.clone();
    let multitenancy = config.multitenancy.enabled;
    let server = Server::build(config, &LogProgress).await?;
    let addr = server.local_addr().context("reading the bound address")?;

    let mut out = std::io::stdout().lock();
    if let Some(key) = &server.new_operator_key {
        writeln!(
            out,
            "Created an operator API key. It is shown only this once; store it now:"
        )?;
        writeln!(out)?;
        writeln!(out, "    {}", key.expose())?;
        writeln!(out)?;
        writeln!(
            out,
            "Use it as `Authorization: Bearer <key>`, or export TENANTRY_API_KEY for the CLI."
        )?;
    }
    if let Some((ca_file, fingerprint)) = server.development_ca()? {
        writeln!(
            out,
            "Development TLS: clients trust the CA in {} (SHA-256 fingerprint {fingerprint}).",
            ca_file.display()
        )?;
    }
    writeln!(
        out,
        "Tenantry listening on {}://{addr} (data in {}, multi-tenancy {})",
        server.scheme(),
        data_dir.display(),
        if multitenancy { "on" } else { "off" }
    )?;
    out.flush()?;
    drop(out);

    server.run(shutdown_signal()).await.context("serving")?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}
