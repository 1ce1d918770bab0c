//! Boots the real `tenantry` binary on a free port with a throwaway data directory.
//!
//! Readiness is the server's own "listening" line on stdout, printed only after every
//! migration has run and the socket is bound: no polling, no sleeps.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;
use tempfile::TempDir;
use tenantry_proto::{
    EnrollResponse, Host, IssuedEnrollmentToken, IssuedToken, Page, Problem, Tenant,
};

use tenantry_testkit::bao::{BaoServer, ROOT_TOKEN};
use tenantry_testkit::pg::PgCluster;

pub const BIN: &str = env!("CARGO_BIN_EXE_tenantry");

/// A fresh operator key in the documented format.
pub fn new_key() -> String {
    use std::fmt::Write;
    let mut bytes = [0u8; 24];
    let f = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    assert!(f.is_ok(), "reading /dev/urandom");
    bytes.iter().fold(String::from("tnt_"), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A `tenantry` command with no `TENANTRY_*` variables inherited from the caller.
pub fn tenantry() -> Command {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("TENANTRY_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// Where the server keeps tenants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The embedded default: SQLite files.
    Sqlite,
    /// PostgreSQL, a database per tenant.
    PgDatabase,
    /// PostgreSQL, a schema per tenant.
    PgSchema,
}

impl Mode {
    /// The isolation mode new tenants get.
    pub fn isolation(self) -> &'static str {
        match self {
            Mode::Sqlite => "file",
            Mode::PgDatabase => "database",
            Mode::PgSchema => "schema",
        }
    }
}

/// A registry cluster and two instances in different regions, for real placement; with
/// OpenBAO brokering tenant credentials, or with shared credentials.
pub struct PgEnv {
    pub registry: PgCluster,
    pub instances: Vec<(&'static str, &'static str, &'static str, PgCluster)>,
    pub bao: Option<BaoEnv>,
    /// With TLS clusters: the CA the server's URLs verify them against (`verify-full`).
    pub ssl_root: Option<PathBuf>,
}

/// A real `bao server -dev` after `tenantry provision-bootstrap`.
pub struct BaoEnv {
    pub server: Mutex<BaoServer>,
    pub url: String,
    /// With `-dev-tls`: OpenBAO's CA, which the server is told to trust.
    pub ca_file: Option<PathBuf>,
    pub role_id: String,
    pub secret_id: String,
    /// stdout of the first bootstrap run.
    pub bootstrap_output: String,
    dir: TempDir,
}

impl PgEnv {
    fn clusters() -> PgEnv {
        PgEnv {
            registry: PgCluster::start(),
            instances: vec![
                ("eu1", "eu-west", "eu", PgCluster::start()),
                ("us1", "us-east", "us", PgCluster::start()),
            ],
            bao: None,
            ssl_root: None,
        }
    }

    /// Clusters with `ssl=on` serving `cert`/`key` (signed by `ca`); the server's URLs ask
    /// for `sslmode=verify-full` against `ca`.
    pub fn start_tls(ca: &Path, cert: &Path, key: &Path) -> Arc<PgEnv> {
        Arc::new(PgEnv {
            registry: PgCluster::start_tls(cert, key),
            instances: vec![
                ("eu1", "eu-west", "eu", PgCluster::start_tls(cert, key)),
                ("us1", "us-east", "us", PgCluster::start_tls(cert, key)),
            ],
            bao: None,
            ssl_root: Some(ca.to_path_buf()),
        })
    }

    /// A URL of the server's configuration: verified TLS when the clusters have it.
    fn server_url(&self, url: String) -> String {
        match &self.ssl_root {
            Some(ca) => format!("{url}?sslmode=verify-full&sslrootcert={}", ca.display()),
            None => url,
        }
    }

    /// Tenant pools use the instances' own (superuser) credentials.
    pub fn start() -> Arc<PgEnv> {
        Arc::new(Self::clusters())
    }

    /// The production shape: OpenBAO, provision-bootstrap, no superuser in the server.
    pub fn start_with_openbao() -> Arc<PgEnv> {
        Self::with_openbao(BaoServer::start())
    }

    /// As [`Self::start_with_openbao`], with OpenBAO serving HTTPS (`-dev-tls`).
    pub fn start_with_openbao_tls() -> Arc<PgEnv> {
        Self::with_openbao(BaoServer::start_tls())
    }

    fn with_openbao(server: BaoServer) -> Arc<PgEnv> {
        let mut env = Self::clusters();
        let dir = TempDir::new().unwrap_or_else(|e| panic!("{e}"));
        let url = server.url();
        let ca_file = server.ca_file();
        let mut bao = BaoEnv {
            server: Mutex::new(server),
            url,
            ca_file,
            role_id: String::new(),
            secret_id: String::new(),
            bootstrap_output: String::new(),
            dir,
        };
        let out = env.bootstrap_with(&bao);
        assert!(
            out.status.success(),
            "provision-bootstrap: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        bao.bootstrap_output = text(&out.stdout);
        let login: Value = serde_json::from_str(
            &std::fs::read_to_string(bao.dir.path().join("approle.json"))
                .unwrap_or_else(|e| panic!("{e}")),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        bao.role_id = login["role_id"].as_str().unwrap_or_default().to_owned();
        bao.secret_id = login["secret_id"].as_str().unwrap_or_default().to_owned();
        env.bao = Some(bao);
        Arc::new(env)
    }

    /// Runs `tenantry provision-bootstrap` (again).
    pub fn bootstrap(&self) -> Output {
        self.bootstrap_with(self.bao.as_ref().unwrap_or_else(|| panic!("no OpenBAO")))
    }

    fn bootstrap_with(&self, bao: &BaoEnv) -> Output {
        let config = bao.dir.path().join("bootstrap.yaml");
        std::fs::write(&config, self.yaml("database", Some((bao, false))))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut cmd = tenantry();
        cmd.arg("provision-bootstrap")
            .arg("--config")
            .arg(&config)
            .arg("--approle-file")
            .arg(bao.dir.path().join("approle.json"))
            .env("BAO_TOKEN", ROOT_TOKEN);
        for (name, .., cluster) in &self.instances {
            cmd.arg("--superuser")
                .arg(format!("{name}={}", cluster.url("postgres")));
        }
        cmd.output().unwrap_or_else(|e| panic!("{e}"))
    }

    /// A root-token call to this environment's OpenBAO (`LIST` as a method works too).
    pub async fn bao_call(&self, method: &str, path: &str) -> (StatusCode, Value) {
        let method = Method::from_bytes(method.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        let response = tenantry_client::tls::http_client(self.bao().ca_file.as_deref())
            .unwrap_or_else(|e| panic!("{e}"))
            .request(method, format!("{}/v1/{path}", self.bao().url))
            .header("X-Vault-Token", ROOT_TOKEN)
            .send()
            .await
            .unwrap_or_else(|e| panic!("OpenBAO: {e}"));
        split(response).await
    }

    pub fn bao(&self) -> &BaoEnv {
        self.bao
            .as_ref()
            .unwrap_or_else(|| panic!("this environment has no OpenBAO"))
    }

    pub fn instance(&self, name: &str) -> &PgCluster {
        self.instances
            .iter()
            .find(|(n, ..)| *n == name)
            .map(|(.., c)| c)
            .unwrap_or_else(|| panic!("no instance {name}"))
    }

    /// The server configuration tests start with, as YAML.
    pub fn config(&self, mode: Mode) -> String {
        let isolation = if mode == Mode::PgSchema {
            "schema"
        } else {
            "database"
        };
        self.yaml(isolation, self.bao.as_ref().map(|b| (b, true)))
    }

    /// The server's configuration. With OpenBAO, instance URLs name the provisioner and
    /// no password (it comes from OpenBAO); `login` adds the server's AppRole login.
    fn yaml(&self, isolation: &str, bao: Option<(&BaoEnv, bool)>) -> String {
        let mut yaml = format!(
            "registry:\n  url: {}\nisolation:\n  default: {isolation}\n",
            self.server_url(self.registry.url("tenantry_registry"))
        );
        match bao {
            None => yaml.push_str("allow_shared_credentials: true\n"),
            Some((bao, login)) => {
                yaml.push_str(&format!("vault:\n  url: {}\n  auth: approle\n", bao.url));
                if let Some(ca) = &bao.ca_file {
                    yaml.push_str(&format!("  ca_file: {}\n", ca.display()));
                }
                if login {
                    yaml.push_str(&format!(
                        "  role_id: {}\n  secret_id: {}\n",
                        bao.role_id, bao.secret_id
                    ));
                }
            }
        }
        yaml.push_str("instances:\n");
        for (name, region, jurisdiction, cluster) in &self.instances {
            let url = match bao {
                None => self.server_url(cluster.url("postgres")),
                Some(_) => format!(
                    "postgres://tenantry_provisioner@127.0.0.1:{}/postgres",
                    cluster.port
                ),
            };
            yaml.push_str(&format!(
                "  {name}:\n    url: {url}\n    region: {region}\n    labels:\n      jurisdiction: {jurisdiction}\n"
            ));
        }
        yaml
    }
}

pub struct Builder {
    /// Arguments after `serve`.
    args: Vec<String>,
    /// A CA the test's client trusts (the server serves HTTPS with a certificate it signed).
    ca_file: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    env: Vec<(String, String)>,
    api_key: Option<String>,
    mode: Mode,
    pg: Option<Arc<PgEnv>>,
}

impl Builder {
    /// An argument for `tenantry serve`.
    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_owned());
        self
    }

    /// The test's own client trusts this CA (for a server with `server.tls`).
    pub fn ca_file(mut self, path: &Path) -> Self {
        self.ca_file = Some(path.to_path_buf());
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Reuse a data directory (e.g. to restart on it).
    pub fn data_dir(mut self, dir: &Path) -> Self {
        self.data_dir = Some(dir.to_path_buf());
        self
    }

    /// Keep tenants this way; PostgreSQL modes start their own clusters unless given some.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Use these clusters (e.g. to restart a server on the same databases).
    pub fn pg(mut self, pg: &Arc<PgEnv>) -> Self {
        self.pg = Some(Arc::clone(pg));
        self
    }

    /// Configure this operator key.
    pub fn api_key(mut self, key: &str) -> Self {
        self.api_key = Some(key.to_owned());
        self
    }

    /// Start without `admin.api_key`, so the server creates and prints one.
    pub fn without_configured_key(mut self) -> Self {
        self.api_key = None;
        self
    }

    pub fn start(self) -> TestServer {
        let temp = TempDir::new().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let data_dir = self
            .data_dir
            .clone()
            .unwrap_or_else(|| temp.path().join("data"));
        let stderr_path = temp.path().join("stderr.log");
        let stderr =
            std::fs::File::create(&stderr_path).unwrap_or_else(|e| panic!("stderr file: {e}"));
        let mut cmd = tenantry();
        cmd.arg("serve")
            .args(&self.args)
            .current_dir(temp.path())
            .env("TENANTRY_SERVER__LISTEN", "127.0.0.1:0")
            .env("TENANTRY_DATA_DIR", &data_dir)
            .env("TENANTRY_LOG__FORMAT", "json")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        if let Some(key) = &self.api_key {
            cmd.env("TENANTRY_ADMIN__API_KEY", key);
        }
        let mut config_path = None;
        let pg = match self.mode {
            Mode::Sqlite => None,
            Mode::PgDatabase | Mode::PgSchema => {
                let pg = self.pg.clone().unwrap_or_else(PgEnv::start);
                let config = temp.path().join("tenantry.yaml");
                std::fs::write(&config, pg.config(self.mode)).unwrap_or_else(|e| panic!("{e}"));
                cmd.env("TENANTRY_CONFIG", &config);
                config_path = Some(config);
                Some(pg)
            }
        };
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {BIN}: {e}"));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let mut lines = BufReader::new(stdout).lines();
        let mut printed = Vec::new();
        let url = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(rest) = line.strip_prefix("Tenantry listening on ") {
                        let url = rest
                            .split_whitespace()
                            .next()
                            .unwrap_or_default()
                            .to_owned();
                        printed.push(line);
                        break url;
                    }
                    printed.push(line);
                }
                _ => {
                    let _ = child.wait();
                    let log = std::fs::read_to_string(&stderr_path).unwrap_or_default();
                    panic!(
                        "server exited before listening.\nstdout:\n{}\nstderr:\n{log}",
                        printed.join("\n")
                    );
                }
            }
        };
        // Keep draining stdout so the server can never block on a full pipe.
        let rest = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&rest);
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if let Ok(mut s) = sink.lock() {
                    s.push(line);
                }
            }
        });
        TestServer {
            mode: self.mode,
            pg,
            config_path,
            child: Some(child),
            url,
            api_key: self.api_key.clone(),
            data_dir,
            stderr_path,
            startup_output: printed,
            http: match &self.ca_file {
                Some(ca) => tenantry_client::tls::http_client(Some(ca)),
                None => Ok(crate::support::http()
                    .build()
                    .unwrap_or_else(|e| panic!("{e}"))),
            }
            .unwrap_or_else(|e| panic!("{e}")),
            _temp: temp,
        }
    }
}

pub struct TestServer {
    pub mode: Mode,
    /// The PostgreSQL clusters, in PostgreSQL modes.
    pub pg: Option<Arc<PgEnv>>,
    config_path: Option<PathBuf>,
    child: Option<Child>,
    pub url: String,
    pub api_key: Option<String>,
    pub data_dir: PathBuf,
    stderr_path: PathBuf,
    /// Everything printed on stdout up to and including the listening line.
    pub startup_output: Vec<String>,
    http: reqwest::Client,
    _temp: TempDir,
}

impl TestServer {
    pub fn builder() -> Builder {
        Builder {
            args: Vec::new(),
            ca_file: None,
            data_dir: None,
            env: Vec::new(),
            api_key: Some(new_key()),
            mode: Mode::Sqlite,
            pg: None,
        }
    }

    pub fn start() -> TestServer {
        Self::builder().start()
    }

    pub fn start_on(mode: Mode) -> TestServer {
        Self::builder().mode(mode).start()
    }

    /// Where the tenant lives, as the API reports it.
    pub async fn placement(&self, slug: &str) -> (String, String) {
        let t: Tenant = answer(
            self.op(Method::GET, &format!("/api/v1/tenants/{slug}")),
            StatusCode::OK,
        )
        .await;
        (t.placement.instance, t.isolation.to_string())
    }

    /// Hostnames read straight from the tenant's own storage (file, database or schema),
    /// bypassing the server.
    pub async fn stored_hostnames(&self, slug: &str) -> Vec<String> {
        match self.mode {
            Mode::Sqlite => hostnames_in_file(&self.tenant_db(slug)).await,
            Mode::PgDatabase | Mode::PgSchema => {
                let (url, table) = self.hosts_table(slug).await;
                pg_hostnames(&url, &table).await
            }
        }
    }

    /// The database URL and the (qualified) hosts table of a PostgreSQL tenant.
    async fn hosts_table(&self, slug: &str) -> (String, String) {
        let (instance, isolation) = self.placement(slug).await;
        let physical = format!("t_{}", slug.replace('-', "_"));
        let cluster = self
            .pg
            .as_ref()
            .map(|pg| pg.instance(&instance))
            .unwrap_or_else(|| panic!("no clusters"));
        if isolation == "schema" {
            (
                cluster.url("tenantry_pool"),
                format!("\"{physical}\".hosts"),
            )
        } else {
            (cluster.url(&physical), "hosts".to_owned())
        }
    }

    /// Every physical tenant store there is: file stems, or `t_*` databases and schemas on
    /// every instance, sorted.
    pub async fn physical_tenants(&self) -> Vec<String> {
        let mut names = Vec::new();
        match self.mode {
            Mode::Sqlite => {
                for entry in std::fs::read_dir(self.data_dir.join("tenants"))
                    .into_iter()
                    .flatten()
                    .flatten()
                {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    names.push(name);
                }
            }
            Mode::PgDatabase | Mode::PgSchema => {
                let Some(pg) = &self.pg else { return names };
                for (instance, .., cluster) in &pg.instances {
                    for db in pg_strings(
                        &cluster.url("postgres"),
                        "SELECT datname FROM pg_database WHERE datname LIKE 't\\_%'",
                    )
                    .await
                    {
                        names.push(format!("{instance}/{db}"));
                    }
                    let pools = pg_strings(
                        &cluster.url("postgres"),
                        "SELECT datname FROM pg_database WHERE datname = 'tenantry_pool'",
                    )
                    .await;
                    if !pools.is_empty() {
                        for schema in pg_strings(
                            &cluster.url("tenantry_pool"),
                            "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 't\\_%'",
                        )
                        .await
                        {
                            names.push(format!("{instance}/tenantry_pool/{schema}"));
                        }
                    }
                }
            }
        }
        names.sort();
        names
    }

    /// One number from `/metrics`.
    pub async fn metric(&self, name: &str) -> u64 {
        let text = self
            .anon(Method::GET, "/metrics")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .text()
            .await
            .unwrap_or_default();
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .find_map(|l| {
                let (key, value) = l.split_once(' ')?;
                (key == name)
                    .then(|| value.trim().parse::<u64>().ok())
                    .flatten()
            })
            .unwrap_or_else(|| panic!("{name} missing from /metrics:\n{text}"))
    }

    /// Environment for running `tenantry` commands on this server's databases.
    pub fn command_env(&self) -> Vec<(String, String)> {
        let mut env = vec![(
            "TENANTRY_DATA_DIR".to_owned(),
            self.data_dir.display().to_string(),
        )];
        if let Some(config) = &self.config_path {
            env.push(("TENANTRY_CONFIG".to_owned(), config.display().to_string()));
        }
        env
    }

    /// Writes a host row straight into a tenant's storage, bypassing the server (to plant
    /// a misplacement).
    pub async fn plant_host(&self, slug: &str, id: &str, hostname: &str) {
        use sqlx::{ConnectOptions, Connection};
        let id = uuid::Uuid::parse_str(id).unwrap_or_else(|e| panic!("{e}"));
        match self.mode {
            Mode::Sqlite => {
                let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(self.tenant_db(slug))
                    .connect()
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                sqlx::query("INSERT INTO hosts (id, hostname, labels, created_at) VALUES ($1, $2, '{}', '2026-01-01T00:00:00Z')")
                    .bind(id)
                    .bind(hostname)
                    .execute(&mut conn)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                let _ = conn.close().await;
            }
            Mode::PgDatabase | Mode::PgSchema => {
                let (url, table) = self.hosts_table(slug).await;
                let mut conn = pg_connect(&url).await;
                let sql = format!(
                    "INSERT INTO {table} (id, hostname, created_at) VALUES ($1, $2, now())"
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .bind(hostname)
                    .execute(&mut conn)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                let _ = conn.close().await;
            }
        }
    }

    /// Whether any trace of the tenant's storage is left (file, database or schema).
    pub async fn storage_exists(&self, slug: &str) -> bool {
        let physical = format!("t_{}", slug.replace('-', "_"));
        match self.mode {
            Mode::Sqlite => self.tenant_db(slug).exists(),
            Mode::PgDatabase | Mode::PgSchema => {
                let Some(pg) = &self.pg else { return false };
                for (.., cluster) in &pg.instances {
                    let found_db = pg_scalar(
                        &cluster.url("postgres"),
                        "SELECT COUNT(*) FROM pg_database WHERE datname = $1",
                        &physical,
                    )
                    .await;
                    let found_schema = if pg_scalar(
                        &cluster.url("postgres"),
                        "SELECT COUNT(*) FROM pg_database WHERE datname = $1",
                        "tenantry_pool",
                    )
                    .await
                        > 0
                    {
                        pg_scalar(
                            &cluster.url("tenantry_pool"),
                            "SELECT COUNT(*) FROM pg_namespace WHERE nspname = $1",
                            &physical,
                        )
                        .await
                    } else {
                        0
                    };
                    if found_db + found_schema > 0 {
                        return true;
                    }
                }
                false
            }
        }
    }

    pub fn key(&self) -> &str {
        self.api_key
            .as_deref()
            .unwrap_or_else(|| panic!("this server has no configured key"))
    }

    /// A request with no credentials.
    pub fn anon(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, format!("{}{path}", self.url))
    }

    /// A request as the operator.
    pub fn op(&self, method: Method, path: &str) -> RequestBuilder {
        self.anon(method, path).bearer_auth(self.key())
    }

    /// A request as the operator masquerading as `tenant`.
    pub fn as_tenant(&self, tenant: &str, method: Method, path: &str) -> RequestBuilder {
        self.op(method, path).header("X-Tenantry-Tenant", tenant)
    }

    pub async fn create_tenant(&self, slug: &str) -> Tenant {
        answer(
            self.op(Method::POST, "/api/v1/tenants")
                .json(&serde_json::json!({ "slug": slug })),
            StatusCode::CREATED,
        )
        .await
    }

    /// Creates a tenant with this isolation on this instance.
    pub async fn create_tenant_on(&self, slug: &str, isolation: &str, instance: &str) -> Tenant {
        answer(
            self.op(Method::POST, "/api/v1/tenants").json(
                &serde_json::json!({ "slug": slug, "isolation": isolation, "instance": instance }),
            ),
            StatusCode::CREATED,
        )
        .await
    }

    pub async fn create_host(&self, tenant: &str, hostname: &str) -> Host {
        answer(
            self.as_tenant(tenant, Method::POST, "/api/v1/hosts")
                .json(&serde_json::json!({ "hostname": hostname, "os": "debian 12" })),
            StatusCode::CREATED,
        )
        .await
    }

    /// A tenant-admin recovery token for `tenant` (operator-minted, 1 h).
    pub async fn admin_token(&self, tenant: &str) -> String {
        let issued: IssuedToken = answer(
            self.op(
                Method::POST,
                &format!("/api/v1/tenants/{tenant}/admin-token"),
            )
            .json(&serde_json::json!({ "ttl": "1h" })),
            StatusCode::CREATED,
        )
        .await;
        issued.token
    }

    /// A new enrollment token of `tenant`: (secret, id).
    pub async fn enrollment_token(&self, tenant: &str) -> (String, String) {
        let issued: IssuedEnrollmentToken = answer(
            self.op(
                Method::POST,
                &format!("/api/v1/tenants/{tenant}/enrollment-tokens"),
            )
            .json(&serde_json::json!({ "ttl": "1h" })),
            StatusCode::CREATED,
        )
        .await;
        (issued.token, issued.info.id.to_string())
    }

    /// Enrolls `machine_id` (reporting `hostname`) with an enrollment token: the answer.
    pub async fn enroll(&self, token: &str, machine_id: &str, hostname: &str) -> EnrollResponse {
        answer(
            self.anon(Method::POST, "/api/v1/agent/enroll")
                .bearer_auth(token)
                .json(&serde_json::json!({ "machine_id": machine_id, "facts": { "hostname": hostname } })),
            StatusCode::CREATED,
        )
        .await
    }

    /// The server's log lines about one request.
    pub fn log_for(&self, request_id: &str) -> Vec<String> {
        self.log_lines()
            .into_iter()
            .map(|l| l.to_string())
            .filter(|l| l.contains(request_id))
            .collect()
    }

    pub async fn add_domain(&self, tenant: &str, domain: &str) {
        let (status, body) = call(
            self.op(Method::POST, &format!("/api/v1/tenants/{tenant}/domains"))
                .json(&serde_json::json!({ "domain": domain })),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "adding {domain} to {tenant}: {body}"
        );
    }

    /// Hostnames the tenant lists, via the API.
    pub async fn hostnames(&self, tenant: &str) -> Vec<String> {
        let page: Page<Host> = answer(
            self.as_tenant(tenant, Method::GET, "/api/v1/hosts?limit=500"),
            StatusCode::OK,
        )
        .await;
        let mut names: Vec<String> = page.items.into_iter().map(|h| h.hostname).collect();
        names.sort();
        names
    }

    pub fn tenant_db(&self, slug: &str) -> PathBuf {
        self.data_dir.join("tenants").join(format!("{slug}.db"))
    }

    pub fn media_dir(&self, slug: &str) -> PathBuf {
        self.data_dir.join("media").join(slug)
    }

    /// The server's log lines so far (JSON).
    pub fn log_lines(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.stderr_path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Stops the server with SIGTERM, waits for it to exit, and keeps its data directory.
    /// Waits for the server process to end by itself (e.g. an injected crash).
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let child = self
            .child
            .as_mut()
            .unwrap_or_else(|| panic!("the server was stopped"));
        child
            .wait()
            .unwrap_or_else(|e| panic!("waiting for the server: {e}"))
    }

    pub fn stop(mut self) -> KeptData {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let _ = child.wait();
        }
        let temp = std::mem::replace(
            &mut self._temp,
            TempDir::new().unwrap_or_else(|e| panic!("tempdir: {e}")),
        );
        KeptData {
            path: self.data_dir.clone(),
            _temp: temp,
        }
    }
}

/// The data directory of a stopped server; removed when dropped.
pub struct KeptData {
    path: PathBuf,
    _temp: TempDir,
}

impl std::ops::Deref for KeptData {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Sends a request; returns the status and the JSON body (`Null` when empty).
/// The `field` of every item of a listing page (`{"items": [...]}`), as strings.
pub fn item_strings(page: &Value, field: &str) -> Vec<String> {
    page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| item[field].as_str().map(str::to_owned))
        .collect()
}

/// Asks `condition` again and again (each ask is a request or a query) until it holds,
/// for at most `seconds`.
pub async fn until<F: AsyncFnMut() -> bool>(seconds: u64, what: &str, mut condition: F) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while !condition().await {
        assert!(
            std::time::Instant::now() < deadline,
            "not within {seconds} s: {what}"
        );
    }
}

/// An HTTP client builder for tests: reqwest is built without a TLS provider of its own,
/// so the process's (rustls with `ring`, as the binary's) is installed first.
pub fn http() -> reqwest::ClientBuilder {
    tenantry_server::tls::install_default_provider();
    reqwest::Client::builder()
}

pub async fn call(req: RequestBuilder) -> (StatusCode, Value) {
    let response = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("request failed: {e}"));
    split(response).await
}

pub async fn split(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let bytes = response.bytes().await.unwrap_or_default();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    (status, body)
}

/// Sends `req`, asserts the answer's status, and reads it as the API type `T` it
/// documents (an answer that is not one fails the test, showing the body).
pub async fn answer<T: serde::de::DeserializeOwned>(req: RequestBuilder, status: StatusCode) -> T {
    let (got, body) = call(req).await;
    assert_eq!(got, status, "{body}");
    serde_json::from_value(body.clone())
        .unwrap_or_else(|e| panic!("not a {}: {e}: {body}", std::any::type_name::<T>()))
}

/// Asserts a problem document with this status and code; returns it.
pub async fn expect_problem(req: RequestBuilder, status: StatusCode, code: &str) -> Problem {
    let response = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("request failed: {e}"));
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let header_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let (got, body) = split(response).await;
    assert_eq!(got, status, "status for {code}: {body}");
    assert_eq!(body["code"], code, "code: {body}");
    assert_eq!(content_type, "application/problem+json");
    assert_eq!(body["status"], status.as_u16());
    assert!(
        body["title"].is_string() && body["detail"].is_string() && body["type"].is_string(),
        "{body}"
    );
    assert!(!header_id.is_empty(), "x-request-id header");
    assert_eq!(
        body["request_id"],
        header_id.as_str(),
        "request id in body and header"
    );
    serde_json::from_value(body.clone())
        .unwrap_or_else(|e| panic!("not a problem document: {e}: {body}"))
}

/// Rows of `SELECT hostname FROM hosts` read straight from a SQLite file.
pub async fn hostnames_in_file(path: &Path) -> Vec<String> {
    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::{ConnectOptions, Connection};
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .connect()
        .await
        .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    let mut names: Vec<String> = sqlx::query_scalar("SELECT hostname FROM hosts ORDER BY hostname")
        .fetch_all(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let _ = conn.close().await;
    names.sort();
    names
}

/// A connection to `url`, for looking at a database behind the server's back.
async fn pg_connect(url: &str) -> sqlx::PgConnection {
    use sqlx::ConnectOptions;
    let options: sqlx::postgres::PgConnectOptions =
        url.parse().unwrap_or_else(|e| panic!("{url}: {e}"));
    options
        .connect()
        .await
        .unwrap_or_else(|e| panic!("connecting to {url}: {e}"))
}

async fn pg_hostnames(url: &str, table: &str) -> Vec<String> {
    use sqlx::Connection;
    let mut conn = pg_connect(url).await;
    let sql = format!("SELECT hostname FROM {table} ORDER BY hostname");
    let mut names: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_all(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("reading {table} at {url}: {e}"));
    let _ = conn.close().await;
    names.sort();
    names
}

pub async fn pg_strings(url: &str, sql: &'static str) -> Vec<String> {
    use sqlx::Connection;
    let mut conn = pg_connect(url).await;
    let rows: Vec<String> = sqlx::query_scalar(sql)
        .fetch_all(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let _ = conn.close().await;
    rows
}

/// One number from a query with one text argument.
/// Runs one statement on `url` (a superuser's).
pub async fn pg_exec(url: &str, sql: &'static str) {
    use sqlx::Connection;
    let mut conn = pg_connect(url).await;
    sqlx::raw_sql(sql)
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let _ = conn.close().await;
}

pub async fn pg_count(url: &str, sql: &'static str, arg: &str) -> i64 {
    pg_scalar(url, sql, arg).await
}

async fn pg_scalar(url: &str, sql: &'static str, arg: &str) -> i64 {
    use sqlx::Connection;
    let mut conn = pg_connect(url).await;
    let n: i64 = sqlx::query_scalar(sql)
        .bind(arg)
        .fetch_one(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let _ = conn.close().await;
    n
}

/// Generates one test per backend from `async fn $name(mode: Mode)`.
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                use $crate::support::Mode;
                #[tokio::test]
                async fn sqlite() { super::$name(Mode::Sqlite).await }
                #[tokio::test]
                async fn pg_database() { super::$name(Mode::PgDatabase).await }
                #[tokio::test]
                async fn pg_schema() { super::$name(Mode::PgSchema).await }
            }
        )+
    };
}

/// Runs `tenantry` with arguments and environment; returns its output.
pub fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = tenantry();
    cmd.args(args).stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output()
        .unwrap_or_else(|e| panic!("running tenantry {args:?}: {e}"))
}

/// Runs `tenantry` with arguments that must make it stop by itself (a refused start); its
/// output. One still running after 30 s started instead: it is killed and the test fails
/// at once, naming it, rather than waiting for the test's own timeout.
pub fn run_to_refusal(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = tenantry();
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("running tenantry {args:?}: {e}"));
    let pid = child.id().to_string();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match finished.recv_timeout(std::time::Duration::from_secs(30)) {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => panic!("running tenantry {args:?}: {e}"),
        Err(_) => {
            let _ = tenantry_testkit::process::signal(&pid, "-KILL");
            panic!("tenantry {args:?} with {env:?} started instead of refusing to");
        }
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
