//! A release `tenantry` server on loopback, with its own clusters or data directory.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use anyhow::{Context, bail};
use tempfile::TempDir;
use tenantry_client::tls;
use tenantry_testkit::bao::BaoServer;
use tenantry_testkit::pg::PgCluster;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    File,
    Database,
    Schema,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::File => "file",
            Mode::Database => "database",
            Mode::Schema => "schema",
        }
    }
}

/// The binary next to this one (both are built by scripts/bench).
pub fn tenantry_bin() -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let bin = me.with_file_name("tenantry");
    if !bin.is_file() {
        bail!("{} not found; run through scripts/bench", bin.display());
    }
    Ok(bin)
}

/// Databases and files for one benchmark run; removed when dropped.
pub struct Stack {
    pub mode: Mode,
    pub dir: TempDir,
    pub clusters: Vec<PgCluster>,
    pub key: String,
    /// With `--openbao`: the server gets per-tenant credentials from this OpenBAO, set up by
    /// `tenantry provision-bootstrap`, and holds no superuser (the production shape).
    bao: Option<(BaoServer, String, String)>,
    /// Extra environment of every `tenantry` it runs (e.g. `TENANTRY_CACHE__URL`).
    pub env: Vec<(String, String)>,
}

impl Stack {
    pub fn new(mode: Mode, openbao: bool) -> anyhow::Result<Stack> {
        let clusters = match mode {
            Mode::File => Vec::new(),
            // A registry and one instance, as the tests' harness does.
            Mode::Database | Mode::Schema => vec![PgCluster::start(), PgCluster::start()],
        };
        if openbao && mode == Mode::File {
            bail!("OpenBAO brokers PostgreSQL credentials; file mode has none");
        }
        let dir = TempDir::new()?;
        let mut stack = Stack {
            mode,
            dir,
            clusters,
            key: format!("tnt_bench{}", "0123456789abcdef".repeat(3)),
            bao: None,
            env: Vec::new(),
        };
        if openbao {
            stack.bootstrap_openbao()?;
        }
        std::fs::write(stack.config_path(), stack.config(true))?;
        Ok(stack)
    }

    /// How results name this stack: the mode, and the credentials' source.
    pub fn label(&self) -> String {
        match self.bao {
            Some(_) => format!("{} + OpenBAO", self.mode.name()),
            None => self.mode.name().to_owned(),
        }
    }

    fn bootstrap_openbao(&mut self) -> anyhow::Result<()> {
        let bao = BaoServer::start();
        self.bao = Some((bao, String::new(), String::new()));
        let config = self.dir.path().join("bootstrap.yaml");
        std::fs::write(&config, self.config(false))?;
        let approle = self.dir.path().join("approle.json");
        let instance = self.instance()?.url("postgres");
        let out = Command::new(tenantry_bin()?)
            .arg("provision-bootstrap")
            .arg("--config")
            .arg(&config)
            .arg("--approle-file")
            .arg(&approle)
            .arg("--superuser")
            .arg(format!("main={instance}"))
            .env("BAO_TOKEN", tenantry_testkit::bao::ROOT_TOKEN)
            .output()?;
        if !out.status.success() {
            bail!(
                "provision-bootstrap: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let login: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&approle)?)?;
        if let Some((_, role_id, secret_id)) = &mut self.bao {
            *role_id = login["role_id"].as_str().unwrap_or_default().to_owned();
            *secret_id = login["secret_id"].as_str().unwrap_or_default().to_owned();
        }
        Ok(())
    }

    /// The server's configuration; `login` adds the AppRole login (not in the bootstrap's).
    fn config(&self, login: bool) -> String {
        let mut yaml = format!(
            "data_dir: {}\nadmin:\n  api_key: {}\nlog:\n  level: warn\n",
            self.data_dir().display(),
            self.key
        );
        if let [registry, instance] = self.clusters.as_slice() {
            yaml.push_str(&format!(
                "registry:\n  url: {}\nisolation:\n  default: {}\n",
                registry.url("tenantry_registry"),
                self.mode.name(),
            ));
            let instance_url = match &self.bao {
                None => {
                    yaml.push_str("allow_shared_credentials: true\n");
                    instance.url("postgres")
                }
                Some((bao, role_id, secret_id)) => {
                    yaml.push_str(&format!("vault:\n  url: {}\n  auth: approle\n", bao.url()));
                    if login {
                        yaml.push_str(&format!("  role_id: {role_id}\n  secret_id: {secret_id}\n"));
                    }
                    format!(
                        "postgres://tenantry_provisioner@127.0.0.1:{}/postgres",
                        instance.port
                    )
                }
            };
            yaml.push_str(&format!("instances:\n  main:\n    url: {instance_url}\n"));
        }
        yaml
    }

    /// The instance cluster tenants are placed on.
    pub fn instance(&self) -> anyhow::Result<&PgCluster> {
        self.clusters
            .get(1)
            .context("this suite runs on PostgreSQL (schema or database mode)")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("tenantry.yaml")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn command(&self) -> anyhow::Result<Command> {
        let mut cmd = Command::new(tenantry_bin()?);
        cmd.env("TENANTRY_CONFIG", self.config_path())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        Ok(cmd)
    }

    /// Runs `tenantry ARGS` to completion.
    pub fn run(&self, args: &[&str], extra_env: &[(&str, &Path)]) -> anyhow::Result<Output> {
        let mut cmd = self.command()?;
        cmd.args(args);
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        Ok(cmd.output()?)
    }

    pub fn serve(&self) -> anyhow::Result<Server> {
        self.serve_with(false)
    }

    /// The same stack over HTTPS (`serve --dev-tls`: its own CA under the data directory).
    pub fn serve_https(&self) -> anyhow::Result<Server> {
        self.serve_with(true)
    }

    fn serve_with(&self, dev_tls: bool) -> anyhow::Result<Server> {
        self.serve_config(&self.config_path(), dev_tls)
    }

    /// A server of this stack's binary and environment with another configuration file.
    pub fn serve_config(&self, config: &Path, dev_tls: bool) -> anyhow::Result<Server> {
        let mut cmd = self.command()?;
        cmd.env("TENANTRY_CONFIG", config).arg("serve");
        if dev_tls {
            cmd.arg("--dev-tls");
        }
        let mut child = cmd
            .env("TENANTRY_SERVER__LISTEN", "127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let url = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(rest) = line.strip_prefix("Tenantry listening on ") {
                        break rest
                            .split_whitespace()
                            .next()
                            .unwrap_or_default()
                            .to_owned();
                    }
                }
                _ => {
                    let _ = child.wait();
                    bail!("the server exited before listening");
                }
            }
        };
        std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
        // The CA exists once the server listens: it makes it on its first start.
        let tls = match dev_tls {
            true => {
                let ca = tls::read_ca_file(&self.data_dir().join("tls").join("ca.pem"))?;
                Some(tls::client_config(&ca)?)
            }
            false => None,
        };
        let mut http = reqwest::Client::builder();
        if let Some(tls) = &tls {
            http = http.tls_backend_preconfigured(tls.clone());
        }
        Ok(Server {
            child,
            url,
            key: self.key.clone(),
            http: http.build()?,
            tls,
        })
    }
}

pub struct Server {
    child: Child,
    pub url: String,
    pub key: String,
    pub http: reqwest::Client,
    /// Served over HTTPS: the client configuration that trusts it.
    pub tls: Option<rustls::ClientConfig>,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// POSTs JSON with a bearer credential; the answer's JSON, or the refusal as an error.
    pub async fn post_json(
        &self,
        path: &str,
        bearer: &str,
        body: &serde_json::Value,
    ) -> anyhow::Result<serde_json::Value> {
        let response = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(bearer)
            .json(body)
            .send()
            .await?;
        let status = response.status();
        if !status.is_success() {
            bail!(
                "POST {path}: {status} {}",
                response.text().await.unwrap_or_default()
            );
        }
        Ok(response.json().await?)
    }

    /// A gauge or counter from `/metrics`.
    pub async fn metric(&self, name: &str) -> anyhow::Result<u64> {
        let text = self
            .http
            .get(format!("{}/metrics", self.url))
            .send()
            .await?
            .text()
            .await?;
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            .map(|v| v as u64)
            .with_context(|| format!("no {name} in /metrics"))
    }

    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
