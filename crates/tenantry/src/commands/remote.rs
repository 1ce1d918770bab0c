//! What every command that talks to a running server takes.

use clap::{Args, ValueEnum};
use tenantry_client::Client;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct Remote {
    /// The server's URL.
    #[arg(
        long,
        global = true,
        env = "TENANTRY_SERVER_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub server: String,
    /// A PEM file of CA certificates to trust besides the system's, for a server whose
    /// certificate a private CA signed.
    #[arg(long, global = true, env = "TENANTRY_CA_FILE")]
    pub ca_file: Option<std::path::PathBuf>,
    /// An operator API key.
    #[arg(long, global = true, env = "TENANTRY_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Human tables or JSON.
    #[arg(long, short, global = true, value_enum, default_value = "table")]
    pub output: Output,
}

impl Remote {
    pub fn client(&self) -> anyhow::Result<Client> {
        if self.api_key.is_none() {
            anyhow::bail!("no API key: pass --api-key or set TENANTRY_API_KEY");
        }
        Ok(Client::new(
            self.server.clone(),
            self.api_key.clone(),
            self.ca_file.as_deref(),
        )?)
    }
}
