//! `tenantry keys`: keypairs and tokens locally; the trust store on a running server.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use tenantry_proto::AddKey;
use tenantry_server::config::HumanDuration;
use tenantry_server::identity::token::{self, Claims, Role};
use tenantry_server::identity::{KeyAlg, PrivateKey, PublicKey};
use tenantry_server::secret::write_private;

use super::remote::{Output, Remote};
use crate::output::{print_json, table};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Alg {
    Rsa,
    Ed25519,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Admin,
    Member,
}

#[derive(Subcommand)]
pub enum Command {
    /// Write a new private key to FILE (mode 0600) and print its kid.
    CreateKeypair {
        file: PathBuf,
        #[arg(long, value_enum, default_value = "rsa")]
        alg: Alg,
    },
    /// Print a tenant token signed with the private key in --key.
    CreateToken {
        #[arg(long)]
        key: PathBuf,
        #[arg(long)]
        tenant: String,
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Lifetime, e.g. 15m, 1h, 30d.
        #[arg(long, default_value = "1h")]
        ttl: String,
        #[arg(long)]
        audience: Option<String>,
        /// Who the token is for (the `sub` claim).
        #[arg(long, default_value = "cli")]
        subject: String,
        /// The tenant's id (`tid`): binds the token to this tenant and no later one of
        /// the same slug (see `tenantry tenants show`).
        #[arg(long)]
        tenant_id: Option<uuid::Uuid>,
    },
    /// Trust the public half of the key in FILE (a private or public PEM) on a server.
    Add {
        file: PathBuf,
        /// Only accept this key's tokens for this tenant.
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        comment: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// The server's trust store.
    List {
        #[command(flatten)]
        remote: Remote,
    },
    /// Stop trusting a key.
    Remove {
        kid: String,
        #[command(flatten)]
        remote: Remote,
    },
}

pub async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::CreateKeypair { file, alg } => {
            let alg = match alg {
                Alg::Rsa => KeyAlg::Rs256,
                Alg::Ed25519 => KeyAlg::EdDsa,
            };
            let key = PrivateKey::generate(alg)?;
            write_private(&file, key.pem().expose())
                .with_context(|| format!("writing {}", file.display()))?;
            println!("{}", key.public.kid);
        }
        Command::CreateToken {
            key,
            tenant,
            role,
            ttl,
            audience,
            subject,
            tenant_id,
        } => {
            let pem = std::fs::read_to_string(&key)
                .with_context(|| format!("reading {}", key.display()))?;
            let key = PrivateKey::from_pem(&pem)?;
            let ttl = HumanDuration::parse(&ttl).map_err(anyhow::Error::msg)?;
            let now = token::now();
            let claims = Claims {
                sub: subject,
                tenant,
                role: match role {
                    RoleArg::Admin => Role::Admin,
                    RoleArg::Member => Role::Member,
                },
                aud: audience,
                iat: now,
                nbf: now,
                exp: now + ttl.as_duration().as_secs(),
                tid: tenant_id,
            };
            println!("{}", token::mint(&key, &claims)?);
        }
        Command::Add {
            file,
            tenant,
            comment,
            remote,
        } => {
            let pem = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            // Only the public half ever leaves this machine.
            let public = match PrivateKey::from_pem(&pem) {
                Ok(private) => private.public,
                Err(_) => PublicKey::from_pem(&pem)?,
            };
            let request = AddKey {
                public_key: public.pem,
                tenant,
                comment,
            };
            let added = remote.client()?.add_key(&request).await?;
            match remote.output {
                Output::Json => print_json(&added)?,
                Output::Table => println!("{}", added.kid),
            }
        }
        Command::List { remote } => {
            let keys = remote.client()?.list_keys().await?;
            match remote.output {
                Output::Json => print_json(&keys)?,
                Output::Table => {
                    let rows: Vec<Vec<String>> = keys
                        .iter()
                        .map(|k| {
                            vec![
                                k.kid.clone(),
                                k.algorithm.clone(),
                                k.tenant.clone().unwrap_or_else(|| "-".into()),
                                k.comment.clone(),
                                k.created_at.format("%Y-%m-%d %H:%M").to_string(),
                            ]
                        })
                        .collect();
                    print!(
                        "{}",
                        table(&["KID", "ALG", "TENANT", "COMMENT", "ADDED"], &rows)
                    );
                }
            }
        }
        Command::Remove { kid, remote } => {
            remote.client()?.remove_key(&kid).await?;
            if remote.output == Output::Table {
                println!("key {kid} is no longer trusted");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
