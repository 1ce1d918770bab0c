//! `tenantry tokens`: enrollment tokens on a running server.

use std::process::ExitCode;

use clap::Subcommand;
use tenantry_proto::{CreateEnrollmentToken, EnrollmentToken};

use super::remote::{Output, Remote};
use crate::output::{print_json, table};

#[derive(Subcommand)]
pub enum Command {
    /// Issue a token; its secret is printed this once.
    Create {
        slug: String,
        /// Lifetime, e.g. 1h, 7d (default 24h, at most 365d).
        #[arg(long)]
        ttl: Option<String>,
        /// How many hosts may enroll with it (default unlimited).
        #[arg(long)]
        max_uses: Option<u64>,
        /// Labels given to hosts enrolling with it (repeatable KEY=VALUE).
        #[arg(long, value_parser = parse_label)]
        label: Vec<(String, String)>,
        #[command(flatten)]
        remote: Remote,
    },
    /// A tenant's tokens (never their secrets).
    List {
        slug: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Revoke a token.
    Revoke {
        slug: String,
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
}

fn parse_label(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("`{text}` is not KEY=VALUE"))
}

pub async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Create {
            slug,
            ttl,
            max_uses,
            label,
            remote,
        } => {
            let request = CreateEnrollmentToken {
                ttl,
                max_uses,
                labels: label.into_iter().collect(),
            };
            let issued = remote
                .client()?
                .create_enrollment_token(&slug, &request)
                .await?;
            match remote.output {
                Output::Json => print_json(&issued)?,
                Output::Table => {
                    println!(
                        "Enrollment token for tenant {} (shown only this once):",
                        issued.info.tenant
                    );
                    println!();
                    println!("    {}", issued.token);
                    println!();
                    println!(
                        "id {}, expires {}",
                        issued.info.id,
                        issued.info.expires_at.format("%Y-%m-%d %H:%M UTC")
                    );
                }
            }
        }
        Command::List { slug, remote } => {
            let tokens = remote.client()?.list_enrollment_tokens(&slug).await?;
            show(&tokens, remote.output)?;
        }
        Command::Revoke { slug, id, remote } => {
            let token = remote.client()?.revoke_enrollment_token(&slug, &id).await?;
            show(&[token], remote.output)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn show(tokens: &[EnrollmentToken], output: Output) -> anyhow::Result<()> {
    match output {
        Output::Json => print_json(&tokens)?,
        Output::Table => {
            let rows: Vec<Vec<String>> = tokens
                .iter()
                .map(|t| {
                    vec![
                        t.id.to_string(),
                        format!(
                            "{}/{}",
                            t.uses,
                            t.max_uses
                                .map(|n| n.to_string())
                                .unwrap_or_else(|| "∞".into())
                        ),
                        t.expires_at.format("%Y-%m-%d %H:%M").to_string(),
                        if t.revoked {
                            "revoked".into()
                        } else {
                            "active".into()
                        },
                        t.labels
                            .iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(","),
                    ]
                })
                .collect();
            print!(
                "{}",
                table(&["ID", "USES", "EXPIRES", "STATE", "LABELS"], &rows)
            );
        }
    }
    Ok(())
}
