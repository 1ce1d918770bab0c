use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use clap::Subcommand;
use tenantry_proto::{
    CreateTenant, Isolation, PlacementRequest, Tenant, TenantStatus, UpdateTenant,
};

use super::remote::{Output, Remote};
use crate::output::{print_json, table};

#[derive(Subcommand)]
pub enum Command {
    /// Create a tenant (its storage is ready when this returns).
    Create {
        slug: String,
        #[arg(long)]
        display_name: Option<String>,
        /// `file` (embedded), `database` or `schema` (PostgreSQL).
        #[arg(long)]
        isolation: Option<Isolation>,
        /// Place the tenant on this instance.
        #[arg(long, conflicts_with_all = ["region", "label"])]
        instance: Option<String>,
        /// Place it on the least loaded instance in this region...
        #[arg(long)]
        region: Option<String>,
        /// ...carrying these labels (repeatable KEY=VALUE).
        #[arg(long, value_parser = parse_label)]
        label: Vec<(String, String)>,
        /// A plan on the server (configured, or made with `tenantry plans set`); default:
        /// the plan `default`.
        #[arg(long)]
        plan: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Move a tenant to another plan; every server enforces it at once.
    Plan {
        slug: String,
        plan: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// List tenants.
    List {
        #[command(flatten)]
        remote: Remote,
    },
    /// Show one tenant.
    Show {
        slug: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Delete a tenant and purge all of its data.
    Delete {
        slug: String,
        /// Do not ask to type the slug to confirm.
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Refuse every request to a tenant until it is resumed.
    Suspend {
        slug: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Serve a suspended tenant again.
    Resume {
        slug: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Finish or roll back interrupted creations and deletions (also done at every start).
    Reconcile {
        #[command(flatten)]
        remote: Remote,
    },
}

pub async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Create {
            slug,
            display_name,
            isolation,
            instance,
            region,
            label,
            plan,
            remote,
        } => {
            let placement = (region.is_some() || !label.is_empty()).then(|| PlacementRequest {
                region,
                labels: label.into_iter().collect(),
            });
            let request = CreateTenant {
                slug,
                display_name,
                isolation,
                instance,
                placement,
                plan,
            };
            let tenant = remote.client()?.create_tenant(&request).await?;
            show(&[tenant], remote.output)
        }
        Command::List { remote } => {
            let tenants = remote.client()?.list_tenants().await?;
            show(&tenants, remote.output)
        }
        Command::Show { slug, remote } => {
            let tenant = remote.client()?.tenant(&slug).await?;
            show(&[tenant], remote.output)
        }
        Command::Delete { slug, yes, remote } => {
            let client = remote.client()?;
            if !yes {
                confirm(&slug)?;
            }
            let report = client.delete_tenant(&slug).await?;
            match remote.output {
                Output::Json => print_json(&report)?,
                Output::Table => println!(
                    "deleted tenant {}: storage removed: {}, media removed: {}, domains removed: {}, purge verified: {}",
                    report.slug,
                    report.storage_removed,
                    report.media_removed,
                    report.domains_removed,
                    report.verified
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan { slug, plan, remote } => {
            let update = UpdateTenant {
                plan: Some(plan),
                ..UpdateTenant::default()
            };
            let tenant = remote.client()?.update_tenant(&slug, &update).await?;
            show(&[tenant], remote.output)
        }
        Command::Suspend { slug, remote } => {
            set_status(&slug, TenantStatus::Suspended, &remote).await
        }
        Command::Resume { slug, remote } => set_status(&slug, TenantStatus::Active, &remote).await,
        Command::Reconcile { remote } => {
            let report = remote.client()?.reconcile().await?;
            match remote.output {
                Output::Json => print_json(&report)?,
                Output::Table => println!(
                    "reconciled: {} provisioned, {} purged, {} failed{}",
                    report.provisioned.len(),
                    report.purged.len(),
                    report.failed.len(),
                    if report.failed.is_empty() {
                        String::new()
                    } else {
                        format!(" ({}; see the server log)", report.failed.join(", "))
                    }
                ),
            }
            Ok(if report.failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

async fn set_status(slug: &str, status: TenantStatus, remote: &Remote) -> anyhow::Result<ExitCode> {
    let update = UpdateTenant {
        status: Some(status),
        ..UpdateTenant::default()
    };
    let tenant = remote.client()?.update_tenant(slug, &update).await?;
    show(&[tenant], remote.output)
}

/// Deleting is irreversible: on a terminal, the slug must be typed back.
fn confirm(slug: &str) -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        anyhow::bail!("deleting purges all of tenant {slug}'s data; pass --yes to confirm");
    }
    print!("This purges all data of tenant {slug}. Type the slug to confirm: ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    if line.trim() != slug {
        anyhow::bail!("not confirmed; nothing was deleted");
    }
    Ok(())
}

fn show(tenants: &[Tenant], output: Output) -> anyhow::Result<ExitCode> {
    match output {
        Output::Json if tenants.len() == 1 => print_json(&tenants[0])?,
        Output::Json => print_json(&tenants)?,
        Output::Table => {
            let rows: Vec<Vec<String>> = tenants
                .iter()
                .map(|t| {
                    vec![
                        t.slug.clone(),
                        t.display_name.clone(),
                        t.status.to_string(),
                        t.isolation.to_string(),
                        t.placement.instance.clone(),
                        t.tenant_chain_version
                            .map(|v| v.to_string())
                            .unwrap_or_else(|| "-".into()),
                        t.created_at.format("%Y-%m-%d %H:%M").to_string(),
                    ]
                })
                .collect();
            print!(
                "{}",
                table(
                    &[
                        "SLUG",
                        "NAME",
                        "STATUS",
                        "ISOLATION",
                        "INSTANCE",
                        "VERSION",
                        "CREATED"
                    ],
                    &rows
                )
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_label(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("`{text}` is not KEY=VALUE"))
}
