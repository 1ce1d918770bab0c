//! `tenantry plans`: named plans on a running server.

use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use tenantry_proto::{PutPlan, TenantLimits};

use super::remote::{Output, Remote};
use crate::output::{print_json, table};

#[derive(Subcommand)]
pub enum Command {
    /// Every plan: the configuration's and those made here, with their tenants.
    List {
        #[command(flatten)]
        remote: Remote,
    },
    /// Create a plan, or replace its limits; every server applies it at once.
    Set {
        name: String,
        /// The limits as JSON, e.g. '{"requests_per_second": 50, "max_hosts": 500}'.
        limits: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Remove a plan no tenant is on.
    Remove {
        name: String,
        #[command(flatten)]
        remote: Remote,
    },
}

pub async fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::List { remote } => {
            let plans = remote.client()?.list_plans().await?;
            match remote.output {
                Output::Json => print_json(&plans)?,
                Output::Table => {
                    let rows: Vec<Vec<String>> = plans
                        .iter()
                        .map(|p| {
                            vec![
                                p.name.clone(),
                                format!("{:?}", p.source).to_lowercase(),
                                p.tenants.to_string(),
                                serde_json::to_string(&p.limits).unwrap_or_default(),
                            ]
                        })
                        .collect();
                    print!("{}", table(&["PLAN", "SOURCE", "TENANTS", "LIMITS"], &rows));
                }
            }
        }
        Command::Set {
            name,
            limits,
            remote,
        } => {
            let limits: TenantLimits = serde_json::from_str(&limits)
                .context("the limits are JSON like {\"requests_per_second\": 50}")?;
            let plan = remote
                .client()?
                .put_plan(&name, &PutPlan { limits })
                .await?;
            match remote.output {
                Output::Json => print_json(&plan)?,
                Output::Table => println!(
                    "plan {name}: {}",
                    serde_json::to_string(&plan.limits).unwrap_or_default()
                ),
            }
        }
        Command::Remove { name, remote } => {
            remote.client()?.remove_plan(&name).await?;
            if remote.output == Output::Table {
                println!("plan {name} removed");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
