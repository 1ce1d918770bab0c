//! `tenantry agent`: enrolls this machine into a tenant with an enrollment token, then
//! checks in every `interval` (or once, with `--once`).
//!
//! The host credential lives in `<state_dir>/agent-state.json` (mode 0600). A host the
//! server no longer knows (deleted) re-enrolls if the configured token still works, and
//! otherwise stops with the server's reason. An unreachable server is retried with backoff;
//! so is a refused TLS handshake, reported as such (with `--once` it stops at once).

mod facts;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Format, Yaml};
use serde::{Deserialize, Serialize};
use tenantry_client::{Client, ClientError, tls};
use tenantry_proto::{
    ActualState, ApplyStatus, CheckinRequest, DesiredState, EnrollRequest, codes,
};
use tenantry_server::config::HumanDuration;
use uuid::Uuid;

#[derive(clap::Args)]
pub struct Args {
    /// The agent's configuration (YAML).
    #[arg(long, short)]
    config: PathBuf,
    /// Enroll if needed, check in once, and exit.
    #[arg(long)]
    once: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentConfig {
    server: ServerSection,
    #[serde(default)]
    security: SecuritySection,
    state_dir: PathBuf,
    #[serde(default = "default_interval")]
    interval: HumanDuration,
    /// Overrides the machine id (containers without /etc/machine-id, tests).
    #[serde(default)]
    machine_id: Option<String>,
    /// A program run to apply a desired state (with TENANTRY_SESSION, TENANTRY_OPERATION,
    /// TENANTRY_BOOT_SET, TENANTRY_IMAGE, TENANTRY_KERNEL_PARAMETERS in its environment);
    /// exit 0 means applied. Without one, the agent records the state as applied.
    #[serde(default)]
    hook: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerSection {
    url: String,
    /// PEM CA certificates to trust besides the system's.
    #[serde(default)]
    ca_file: Option<PathBuf>,
    /// Trust exactly the CA with this SHA-256 fingerprint, which the server sends in its
    /// chain (no CA file needs to reach the machine).
    #[serde(default)]
    ca_fingerprint: Option<String>,
    /// Allow `http://` to a host other than loopback: tokens and credentials in clear.
    #[serde(default)]
    allow_insecure_http: bool,
    /// A client certificate (PEM chain) and its key, for a server that requires agents to
    /// present one (`server.tls.client_ca_file` on the server).
    #[serde(default)]
    client_cert_file: Option<PathBuf>,
    #[serde(default)]
    client_key_file: Option<PathBuf>,
}

impl ServerSection {
    /// The HTTP client this agent talks to its server with. Refuses plain HTTP across a
    /// network unless allowed in so many words.
    fn http_client(&self) -> anyhow::Result<reqwest::Client> {
        let url = reqwest::Url::parse(&self.url)
            .with_context(|| format!("server.url `{}` is not a URL", self.url))?;
        if url.scheme() == "http" && !self.allow_insecure_http && !is_loopback(&url) {
            bail!(
                "server.url `{}` is plain HTTP to another machine: the enrollment token and the host \
                 credential would cross the network in clear. Use https://, or set \
                 server.allow_insecure_http: true if the network itself is trusted",
                self.url
            );
        }
        let identity = match (&self.client_cert_file, &self.client_key_file) {
            (Some(cert), Some(key)) => Some(
                tls::Identity::from_files(cert, key)
                    .context("server.client_cert_file / server.client_key_file")?,
            ),
            (None, None) => None,
            _ => bail!("set both server.client_cert_file and server.client_key_file, or neither"),
        };
        Ok(match (&self.ca_fingerprint, &self.ca_file) {
            (Some(_), Some(_)) => bail!("set server.ca_fingerprint or server.ca_file, not both"),
            (Some(pin), None) => {
                let pin = pin
                    .parse::<tls::Fingerprint>()
                    .map_err(|why| anyhow::anyhow!("server.ca_fingerprint: {why}"))?;
                tls::pinned_http_client(pin, identity)?
            }
            (None, ca_file) => {
                tls::http_client_as(ca_file.as_deref(), identity).context("server.ca_file")?
            }
        })
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecuritySection {
    /// Needed to enroll (and to re-enroll a host the server forgot).
    #[serde(default)]
    enrollment_token: Option<String>,
}

fn default_interval() -> HumanDuration {
    HumanDuration::from_secs(60)
}

/// What the agent keeps between runs.
#[derive(Serialize, Deserialize)]
struct State {
    server_url: String,
    tenant: String,
    host_id: Uuid,
    credential: String,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("tenant", &self.tenant)
            .field("host_id", &self.host_id)
            .finish_non_exhaustive()
    }
}

const STATE_FILE: &str = "agent-state.json";
/// With `--once`, give up on an unreachable server after this many attempts.
const ONCE_ATTEMPTS: u32 = 3;
const MAX_BACKOFF: Duration = Duration::from_secs(30);

fn load_state(dir: &Path) -> anyhow::Result<Option<State>> {
    let path = dir.join(STATE_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(
            serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Writes the state with mode 0600, atomically (temp file, then rename).
fn save_state(dir: &Path, state: &State) -> anyhow::Result<()> {
    let path = dir.join(STATE_FILE);
    let staging = dir.join(format!(".{STATE_FILE}.new"));
    let _ = std::fs::remove_file(&staging);
    let body = serde_json::to_string_pretty(state)?;
    tenantry_server::secret::write_private(&staging, &body)
        .with_context(|| format!("writing {}", staging.display()))?;
    std::fs::rename(&staging, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn forget_state(dir: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(dir.join(STATE_FILE)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.into()),
    }
}

struct Agent {
    config: AgentConfig,
    /// Trusts what `server` says to trust; shared by every call.
    http: reqwest::Client,
    machine_id: String,
    interval: Duration,
}

/// How one round ended.
enum Round {
    /// Done; the next round is due after this long.
    Next(Duration),
    /// The server could not be reached, or could not serve us now: try again later.
    Retry(String),
    /// The TLS handshake was refused (a certificate one side does not accept). It fails the
    /// same way until a certificate or the configuration changes: `--once` stops at once; a
    /// running agent keeps trying, since the server's certificate may be fixed without it.
    Refused(String),
}

/// What to look at when a handshake is refused.
const TLS_HINT: &str = "server.ca_file / server.ca_fingerprint set which server certificates \
     this agent trusts, server.client_cert_file the certificate it presents";

/// Whether a failed call is worth trying again. Only a definitive refusal stops an agent:
/// a token or host the server no longer accepts, a tenant being deleted, or a request it
/// will never take. Outages, 5xx answers and states an operator can undo (a suspended
/// tenant, a host limit, a busy tenant) are ridden out with backoff.
fn retry_or_stop(e: ClientError) -> anyhow::Result<Round> {
    let transient = match &e {
        ClientError::Tls { .. } => return Ok(Round::Refused(e.to_string())),
        ClientError::Unreachable { .. } => true,
        ClientError::Unexpected { status, .. } => {
            status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408
        }
        ClientError::Api(p) => {
            p.status >= 500
                || matches!(
                    p.code.as_str(),
                    codes::TENANT_SUSPENDED
                        | codes::TENANT_BUSY
                        | codes::RATE_LIMITED
                        | codes::HOST_LIMIT_REACHED
                        | codes::TENANT_NOT_READY
                )
        }
    };
    if transient {
        return Ok(Round::Retry(e.to_string()));
    }
    bail!("the server refused this agent: {e}")
}

impl Agent {
    async fn enroll(&self) -> anyhow::Result<Round> {
        let Some(token) = &self.config.security.enrollment_token else {
            bail!("this machine is not enrolled and security.enrollment_token is not set");
        };
        let client = Client::with_http(
            &self.config.server.url,
            Some(token.clone()),
            self.http.clone(),
        );
        let request = EnrollRequest {
            machine_id: self.machine_id.clone(),
            facts: facts::collect(),
            checkin_interval_secs: Some(self.interval.as_secs().max(1)),
        };
        match client.enroll(&request).await {
            Ok(enrolled) => {
                save_state(
                    &self.config.state_dir,
                    &State {
                        server_url: self.config.server.url.clone(),
                        tenant: enrolled.tenant.clone(),
                        host_id: enrolled.host_id,
                        credential: enrolled.credential,
                    },
                )?;
                println!(
                    "{} host {} in tenant {}",
                    if enrolled.reenrolled {
                        "re-enrolled"
                    } else {
                        "enrolled"
                    },
                    enrolled.host_id,
                    enrolled.tenant
                );
                Ok(Round::Next(self.interval))
            }
            Err(ClientError::Api(p)) if p.code == codes::INVALID_ENROLLMENT_TOKEN => {
                bail!("enrollment refused: {}", p.detail)
            }
            Err(e) => retry_or_stop(e),
        }
    }

    /// Applies a desired state: runs the hook, if any.
    async fn apply(&self, desired: &DesiredState) -> ActualState {
        let (status, detail) = match &self.config.hook {
            None => (ApplyStatus::Applied, None),
            Some(hook) => {
                let out = tokio::process::Command::new(hook)
                    .env("TENANTRY_SESSION", desired.session_id.to_string())
                    .env("TENANTRY_OPERATION", desired.operation.as_str())
                    .env("TENANTRY_BOOT_SET", &desired.boot_set)
                    .env("TENANTRY_IMAGE", &desired.image)
                    .env("TENANTRY_KERNEL_PARAMETERS", &desired.kernel_parameters)
                    .stdin(std::process::Stdio::null())
                    .output()
                    .await;
                match out {
                    Ok(out) if out.status.success() => (ApplyStatus::Applied, None),
                    Ok(out) => (
                        ApplyStatus::Failed,
                        Some(format!(
                            "hook exited with {}: {}",
                            out.status,
                            String::from_utf8_lossy(&out.stderr)
                                .chars()
                                .take(500)
                                .collect::<String>()
                        )),
                    ),
                    Err(e) => (ApplyStatus::Failed, Some(format!("hook did not run: {e}"))),
                }
            }
        };
        println!(
            "{} {} of boot set {} (session {})",
            if status == ApplyStatus::Applied {
                "applied"
            } else {
                "failed to apply"
            },
            desired.operation.as_str(),
            desired.boot_set,
            desired.session_id
        );
        ActualState {
            session_id: desired.session_id,
            operation: desired.operation,
            status,
            detail,
        }
    }

    async fn checkin(&self, mut state: State) -> anyhow::Result<Round> {
        let mut request = CheckinRequest {
            facts: Some(facts::collect()),
            actual: None,
        };
        // A desired state received is applied and reported at once (a few rounds at most).
        for _ in 0..4 {
            let client = Client::with_http(
                &state.server_url,
                Some(state.credential.clone()),
                self.http.clone(),
            );
            let answer = match client.checkin(&request).await {
                Ok(answer) => answer,
                // The host, or its tenant, is gone: enroll again if we can.
                Err(ClientError::Api(p))
                    if p.code == codes::HOST_UNKNOWN || p.code == codes::TOKEN_TENANT_REPLACED =>
                {
                    if self.config.security.enrollment_token.is_none() {
                        bail!(
                            "the server no longer knows this host ({}), and there is no enrollment token to enroll it again",
                            p.detail
                        );
                    }
                    println!(
                        "the server no longer knows host {}; enrolling again",
                        state.host_id
                    );
                    forget_state(&self.config.state_dir)?;
                    return self.enroll().await;
                }
                Err(e) => return retry_or_stop(e),
            };
            if let Some(credential) = answer.credential {
                state.credential = credential;
                save_state(&self.config.state_dir, &state)?;
            }
            println!(
                "checked in: host {} in tenant {}; next in {}s",
                answer.host_id, answer.tenant, answer.next_checkin_secs
            );
            let next = Duration::from_secs(answer.next_checkin_secs.max(1));
            match answer.desired {
                Some(desired) => {
                    request = CheckinRequest {
                        facts: None,
                        actual: Some(self.apply(&desired).await),
                    };
                }
                None => return Ok(Round::Next(next)),
            }
        }
        Ok(Round::Next(self.interval))
    }

    async fn round(&self) -> anyhow::Result<Round> {
        match load_state(&self.config.state_dir)? {
            Some(state) if state.server_url == self.config.server.url => self.checkin(state).await,
            // Never enrolled, or enrolled with another server.
            _ => self.enroll().await,
        }
    }
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config: AgentConfig = Figment::from(Yaml::file_exact(&args.config))
        .extract()
        .with_context(|| format!("reading {}", args.config.display()))?;
    std::fs::create_dir_all(&config.state_dir)
        .with_context(|| format!("creating {}", config.state_dir.display()))?;
    let machine_id = match &config.machine_id {
        Some(id) => id.clone(),
        None => facts::machine_id(&config.state_dir).context("reading the machine id")?,
    };
    let interval = config.interval.as_duration().max(Duration::from_secs(1));
    let http = config.server.http_client()?;
    let agent = Agent {
        http,
        config,
        machine_id,
        interval,
    };
    let mut backoff = Duration::from_secs(1);
    let mut attempts = 0;
    loop {
        match agent.round().await? {
            Round::Next(after) => {
                backoff = Duration::from_secs(1);
                attempts = 0;
                if args.once {
                    return Ok(ExitCode::SUCCESS);
                }
                tokio::time::sleep(after).await;
            }
            Round::Retry(why) => {
                attempts += 1;
                if args.once && attempts >= ONCE_ATTEMPTS {
                    bail!(
                        "the server at {} is unreachable or unavailable ({why}); gave up after {attempts} attempts",
                        agent.config.server.url
                    );
                }
                eprintln!(
                    "the server at {} is unreachable or unavailable ({why}); retrying in {}s",
                    agent.config.server.url,
                    backoff.as_secs()
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            Round::Refused(why) => {
                if args.once {
                    bail!("{why} ({TLS_HINT})");
                }
                eprintln!("{why} ({TLS_HINT}); retrying in {}s", backoff.as_secs());
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}
