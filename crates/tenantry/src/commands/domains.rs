use std::process::ExitCode;

use clap::Subcommand;

use super::remote::{Output, Remote};
use crate::output::{print_json, table};

#[derive(Subcommand)]
pub enum Command {
    /// Route requests whose Host is DOMAIN to the tenant.
    Add {
        slug: String,
        domain: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// A tenant's domains.
    List {
        slug: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Stop routing DOMAIN to the tenant.
    Remove {
        slug: String,
        domain: String,
        #[command(flatten)]
        remote: Remote,
    },
}

pub async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Add {
            slug,
            domain,
            remote,
        } => {
            let d = remote.client()?.add_domain(&slug, &domain).await?;
            match remote.output {
                Output::Json => print_json(&d)?,
                Output::Table => println!("{} now routes to tenant {}", d.domain, d.tenant),
            }
        }
        Command::List { slug, remote } => {
            let domains = remote.client()?.list_domains(&slug).await?;
            match remote.output {
                Output::Json => print_json(&domains)?,
                Output::Table => {
                    let rows: Vec<Vec<String>> = domains
                        .iter()
                        .map(|d| {
                            vec![
                                d.domain.clone(),
                                d.tenant.clone(),
                                d.created_at.format("%Y-%m-%d %H:%M").to_string(),
                            ]
                        })
                        .collect();
                    print!("{}", table(&["DOMAIN", "TENANT", "ADDED"], &rows));
                }
            }
        }
        Command::Remove {
            slug,
            domain,
            remote,
        } => {
            remote.client()?.remove_domain(&slug, &domain).await?;
            if remote.output == Output::Table {
                println!("{domain} no longer routes to tenant {slug}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
