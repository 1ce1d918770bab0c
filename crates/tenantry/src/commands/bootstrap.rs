//! `tenantry provision-bootstrap`: the one-time, idempotent setup of least-privilege
//! provisioning on every instance and in OpenBAO (see the server's `provisioner::bootstrap`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use tenantry_server::config;
use tenantry_server::provisioner::bootstrap::{APPROLE, Bootstrap};
use tenantry_server::secret::Secret;

use crate::output::table;

#[derive(clap::Args)]
pub struct Args {
    /// Configuration file (default: $TENANTRY_CONFIG, else ./tenantry.yaml if present).
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// An OpenBAO token allowed to enable mounts, write policies and AppRoles.
    #[arg(long, env = "BAO_TOKEN", hide_env_values = true)]
    bao_token: String,
    /// `INSTANCE=postgres://superuser@host:port/postgres`, once per instance. Used for
    /// this run only; nothing keeps it.
    #[arg(long = "superuser", value_name = "INSTANCE=URL")]
    superusers: Vec<String>,
    /// Where the server's AppRole login is written (mode 0600) on the first run.
    /// Default: <data_dir>/openbao-approle.json.
    #[arg(long)]
    approle_file: Option<PathBuf>,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = config::load_unchecked(args.config.as_deref())?;
    let mut superusers = BTreeMap::new();
    for item in &args.superusers {
        let Some((name, url)) = item.split_once('=') else {
            bail!("--superuser takes INSTANCE=URL");
        };
        superusers.insert(name.to_owned(), Secret::new(url));
    }
    let approle_file = args
        .approle_file
        .unwrap_or_else(|| config.data_dir.join("openbao-approle.json"));
    if let Some(dir) = approle_file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let bootstrap = Bootstrap {
        config: &config,
        bao_token: Secret::new(args.bao_token),
        superusers,
        approle_file: approle_file.clone(),
    };
    let (steps, login) = bootstrap.run().await?;
    let rows: Vec<Vec<String>> = steps
        .iter()
        .map(|s| {
            vec![
                s.what.clone(),
                if s.changed {
                    "created/updated"
                } else {
                    "unchanged"
                }
                .into(),
            ]
        })
        .collect();
    print!("{}", table(&["STEP", "RESULT"], &rows));
    let changed = steps.iter().filter(|s| s.changed).count();
    println!(
        "provision-bootstrap done: {changed} of {} steps changed something",
        steps.len()
    );
    println!(
        "the server logs in with AppRole `{APPROLE}`: vault.auth: approle, vault.role_id: {}, \
         and vault.secret_id from {} (e.g. TENANTRY_VAULT__SECRET_ID)",
        login.role_id,
        approle_file.display()
    );
    Ok(ExitCode::SUCCESS)
}
