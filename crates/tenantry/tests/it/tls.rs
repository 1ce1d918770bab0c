//! HTTPS on the server's port: a throwaway CA and certificates made with `openssl`, the CLI
//! and the API client over TLS, hostnames verified, plain HTTP refused with a hint,
//! certificates replaced on disk without a restart, and a mismatched key refused at start.

use std::path::{Path, PathBuf};
use std::process::Command;

use reqwest::{Method, StatusCode};
use tenantry_proto::{Page, Tenant};

use tenantry_testkit::redis::{RedisServer, TlsFiles};

use crate::support::{Mode, PgEnv, TestServer, answer, pg_strings, run, text, until};

/// A throwaway certificate authority in a directory of its own.
pub(crate) struct Ca {
    dir: tempfile::TempDir,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("openssl: {e}"));
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        text(&out.stderr)
    );
}

/// `openssl req` with a new, unencrypted P-256 key.
fn new_key_request(dir: &Path, args: &[&str]) {
    let mut all = vec![
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    all.extend_from_slice(args);
    openssl(dir, &all);
}

impl Ca {
    pub(crate) fn new() -> Ca {
        let dir = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
        new_key_request(
            dir.path(),
            &[
                "-x509",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=tenantry test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        Ca { dir }
    }

    pub(crate) fn cert(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A server certificate for 127.0.0.1 and localhost, as `<name>.pem` and `<name>.key`.
    fn issue(&self, name: &str) -> (PathBuf, PathBuf) {
        self.issue_for(name, "serverAuth")
    }

    /// A certificate for `purpose` (`serverAuth`, `clientAuth`).
    fn issue_for(&self, name: &str, purpose: &str) -> (PathBuf, PathBuf) {
        let dir = self.dir.path();
        let ext = dir.join(format!("{name}.ext"));
        std::fs::write(
            &ext,
            format!(
                "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
                 keyUsage=critical,digitalSignature\nextendedKeyUsage={purpose}\n"
            ),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let (key, csr, pem) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
        );
        new_key_request(
            dir,
            &[
                "-new",
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                "/CN=localhost",
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-out",
                &pem,
                "-extfile",
                &ext.display().to_string(),
            ],
        );
        (dir.join(pem), dir.join(key))
    }
}

/// A server serving HTTPS with `cert`/`key`, its client trusting `ca`.
fn https_server(ca: &Path, cert: &Path, key: &Path) -> TestServer {
    TestServer::builder()
        .ca_file(ca)
        .env(
            "TENANTRY_SERVER__TLS__CERT_FILE",
            &cert.display().to_string(),
        )
        .env("TENANTRY_SERVER__TLS__KEY_FILE", &key.display().to_string())
        .start()
}

#[tokio::test]
async fn the_api_and_the_cli_speak_https_and_verify_the_server() {
    let ca = Ca::new();
    let (cert, key) = ca.issue("server");
    let server = https_server(&ca.cert(), &cert, &key);
    assert!(server.url.starts_with("https://"), "{}", server.url);

    // The API over HTTPS, with the usual helpers.
    server.create_tenant("acme").await;
    let page: Page<Tenant> =
        answer(server.op(Method::GET, "/api/v1/tenants"), StatusCode::OK).await;
    assert_eq!(page.items.len(), 2);

    // The CLI trusts the CA it is given, and only then.
    let ca_s = ca.cert().display().to_string();
    let cli = |extra: &[(&str, &str)]| {
        let mut env = vec![
            ("TENANTRY_SERVER_URL", server.url.as_str()),
            ("TENANTRY_API_KEY", server.key()),
        ];
        env.extend_from_slice(extra);
        run(&["tenants", "list"], &env)
    };
    let out = cli(&[("TENANTRY_CA_FILE", &ca_s)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("acme"), "{}", text(&out.stdout));
    let out = cli(&[]);
    assert!(!out.status.success(), "trusted a server no known CA signed");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("certificate") || stderr.contains("UnknownIssuer"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    // The hostname is always verified: the certificate is not for this name.
    let wrong_name = server.url.replace("127.0.0.1", "127.0.0.2");
    let out = run(
        &["tenants", "list"],
        &[
            ("TENANTRY_SERVER_URL", wrong_name.as_str()),
            ("TENANTRY_API_KEY", server.key()),
            ("TENANTRY_CA_FILE", &ca_s),
        ],
    );
    assert!(
        !out.status.success(),
        "accepted a certificate for another name"
    );

    // Plain HTTP on the TLS port is told what to do instead.
    let plain = server.url.replacen("https://", "http://", 1);
    let (status, body) = crate::support::call(
        crate::support::http()
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
            .get(format!("{plain}/healthz")),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.to_string().contains("https://"), "{body}");
}

#[tokio::test]
async fn over_tls_the_ui_cookie_is_secure_and_browsers_are_told_to_stay() {
    let ca = Ca::new();
    let (cert, key) = ca.issue("server");
    let server = https_server(&ca.cert(), &cert, &key);
    let response = server
        .anon(Method::GET, "/ui/login")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let headers = response.headers();
    assert!(
        headers
            .get("strict-transport-security")
            .is_some_and(|v| v.to_str().unwrap_or_default().contains("max-age=")),
        "{headers:?}"
    );
    let cookies: Vec<&str> = headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert!(!cookies.is_empty(), "{headers:?}");
    assert!(
        cookies.iter().all(|c| c.contains("; Secure")),
        "{cookies:?}"
    );
}

/// The leaf certificate a connection of `client` was served.
async fn served_certificate(client: &reqwest::Client, url: &str) -> Vec<u8> {
    let response = client
        .get(format!("{url}/healthz"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status(), StatusCode::OK);
    response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate().map(<[u8]>::to_vec))
        .unwrap_or_else(|| panic!("no TLS information on the response"))
}

fn client(ca: &Path, reuse: bool) -> reqwest::Client {
    let certs = tenantry_client::tls::read_ca_file(ca).unwrap_or_else(|e| panic!("{e}"));
    let config = tenantry_client::tls::client_config(&certs).unwrap_or_else(|e| panic!("{e}"));
    let mut builder = reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .tls_info(true);
    if !reuse {
        builder = builder.pool_max_idle_per_host(0);
    }
    builder.build().unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn a_replaced_certificate_is_served_to_new_connections_and_old_ones_keep_theirs() {
    let ca = Ca::new();
    let (cert, key) = ca.issue("first");
    // The server reads the pair from paths of its own, which the test overwrites.
    let live = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
    let (live_cert, live_key) = (live.path().join("cert.pem"), live.path().join("key.pem"));
    std::fs::copy(&cert, &live_cert).unwrap_or_else(|e| panic!("{e}"));
    std::fs::copy(&key, &live_key).unwrap_or_else(|e| panic!("{e}"));
    let server = https_server(&ca.cert(), &live_cert, &live_key);

    // A connection that stays open across the change.
    let kept = client(&ca.cert(), true);
    let first = served_certificate(&kept, &server.url).await;

    // A new pair on disk, written key first then certificate, each by rename.
    let (cert2, key2) = ca.issue("second");
    for (from, to) in [(&key2, &live_key), (&cert2, &live_cert)] {
        let staged = to.with_extension("new");
        std::fs::copy(from, &staged).unwrap_or_else(|e| panic!("{e}"));
        std::fs::rename(&staged, to).unwrap_or_else(|e| panic!("{e}"));
    }

    // New connections get the new certificate once the server has looked (every 2 s).
    let fresh = client(&ca.cert(), false);
    until(30, "the replaced certificate is served", async || {
        served_certificate(&fresh, &server.url).await != first
    })
    .await;
    // The connection opened before still works, on the certificate it started with.
    assert_eq!(served_certificate(&kept, &server.url).await, first);
    let log = server.log_lines();
    assert!(
        log.iter().any(|l| l
            .to_string()
            .contains("serving the TLS certificate read from disk")),
        "no reload was logged"
    );
}

#[test]
fn a_key_that_does_not_match_the_certificate_stops_the_start() {
    let ca = Ca::new();
    let (cert, _) = ca.issue("one");
    let (_, other_key) = ca.issue("two");
    let data = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
    let data_s = data.path().join("data").display().to_string();
    let (cert_s, key_s) = (cert.display().to_string(), other_key.display().to_string());
    let missing = data.path().join("nope.pem").display().to_string();
    for (cert_file, key_file, named) in [
        (cert_s.as_str(), key_s.as_str(), "server.tls.key_file"),
        (missing.as_str(), key_s.as_str(), "server.tls.cert_file"),
        (cert_s.as_str(), missing.as_str(), "server.tls.key_file"),
    ] {
        let out = run(
            &["serve"],
            &[
                ("TENANTRY_DATA_DIR", &data_s),
                ("TENANTRY_SERVER__LISTEN", "127.0.0.1:0"),
                ("TENANTRY_SERVER__TLS__CERT_FILE", cert_file),
                ("TENANTRY_SERVER__TLS__KEY_FILE", key_file),
            ],
        );
        let stderr = text(&out.stderr);
        assert!(
            !out.status.success(),
            "started with {cert_file} / {key_file}"
        );
        assert!(stderr.contains(named), "does not name {named}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// The CA's SHA-256 fingerprint as `openssl` prints it (`AB:CD:…`).
fn fingerprint(ca: &Path) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(ca)
        .output()
        .unwrap_or_else(|e| panic!("openssl: {e}"));
    text(&out.stdout)
        .trim()
        .rsplit('=')
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn agent_yaml(dir: &Path, url: &str, token: &str, server: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{e}"));
    let path = dir.join("agent.yaml");
    let yaml = format!(
        "server:\n  url: {url}\n{server}state_dir: {}\nmachine_id: machine-tls-0001\n\
         security:\n  enrollment_token: {token}\n",
        dir.join("state").display()
    );
    std::fs::write(&path, yaml).unwrap_or_else(|e| panic!("{e}"));
    path
}

/// One `agent --once` run against `server` from `<work>/<name>`, with `extra` lines in the
/// agent's `server:` section.
fn agent_run(
    work: &Path,
    name: &str,
    server: &TestServer,
    token: &str,
    extra: &str,
) -> std::process::Output {
    crate::agent::agent_once(&agent_yaml(&work.join(name), &server.url, token, extra))
}

#[tokio::test]
async fn an_agent_enrolls_by_a_pinned_ca_fingerprint_and_refuses_any_other_ca() {
    let ca = Ca::new();
    let (leaf, key) = ca.issue("server");
    // The server sends its CA in its chain, so a pinned agent needs no CA file.
    let chain = ca.dir.path().join("chain.pem");
    let mut pem = std::fs::read(&leaf).unwrap_or_else(|e| panic!("{e}"));
    pem.extend(std::fs::read(ca.cert()).unwrap_or_else(|e| panic!("{e}")));
    std::fs::write(&chain, pem).unwrap_or_else(|e| panic!("{e}"));
    let server = https_server(&ca.cert(), &chain, &key);
    server.create_tenant("acme").await;
    let (token, _) = server.enrollment_token("acme").await;
    let work = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));

    // Another CA's fingerprint: the agent will not talk to this server.
    let other = Ca::new();
    let pinned_other = format!("  ca_fingerprint: \"{}\"\n", fingerprint(&other.cert()));
    let out = agent_run(work.path(), "other", &server, &token, &pinned_other);
    assert!(!out.status.success(), "enrolled with the wrong CA pinned");
    // Named as a refused certificate, not an outage, and not retried: it would fail the same.
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("TLS with the server at")
            && stderr.contains("pinned fingerprint")
            && !stderr.contains("retrying"),
        "{stderr}"
    );
    assert!(server.hostnames("acme").await.is_empty());

    // The right one: enrolled, over a verified connection.
    let pinned = format!("  ca_fingerprint: \"{}\"\n", fingerprint(&ca.cert()));
    let out = agent_run(work.path(), "right", &server, &token, &pinned);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("enrolled host"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(server.hostnames("acme").await.len(), 1);
}

#[test]
fn an_agent_refuses_plain_http_across_a_network() {
    let work = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
    let config = agent_yaml(work.path(), "http://fleet.example.com:8080", "tnte_x", "");
    let out = crate::agent::agent_once(&config);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("plain HTTP") && stderr.contains("allow_insecure_http"),
        "{stderr}"
    );
}

/// `serve --dev-tls`: a CA and certificate made once under the data directory, the CA's
/// fingerprint printed at every start, HTTPS served with them, the keys private.
#[tokio::test]
async fn dev_tls_makes_its_ca_once_prints_the_fingerprint_and_serves_https() {
    let data = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
    let ca_file = data.path().join("tls").join("ca.pem");
    let start = || {
        TestServer::builder()
            .arg("--dev-tls")
            .data_dir(data.path())
            .ca_file(&ca_file)
            .start()
    };
    let server = start();
    assert!(server.url.starts_with("https://"), "{}", server.url);
    let expected = fingerprint(&ca_file);
    let printed = server.startup_output.join("\n");
    assert!(
        printed.contains("Development TLS") && printed.contains(&expected),
        "{printed}\nexpected fingerprint {expected}"
    );
    server.create_tenant("acme").await;
    #[cfg(unix)]
    for key in ["server.key", "ca.key"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.path().join("tls").join(key))
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or_default();
        assert_eq!(mode, 0o600, "{key} is readable by others");
    }
    drop(server);

    // The next start serves the same CA: clients that trust it keep trusting it.
    let again = start();
    assert!(
        again.startup_output.join("\n").contains(&expected),
        "a new CA was made"
    );
    let page: Page<Tenant> = answer(again.op(Method::GET, "/api/v1/tenants"), StatusCode::OK).await;
    assert_eq!(page.items.len(), 2);
}

/// `server.tls.client_ca_file`: agents must present a client certificate from that CA on
/// the agent routes; operators (no client certificate) are not asked for one.
#[tokio::test]
async fn agents_without_a_client_certificate_are_refused_when_the_server_requires_one() {
    let ca = Ca::new();
    let (cert, key) = ca.issue("server");
    let clients = Ca::new();
    let (client_cert, client_key) = clients.issue_for("agent", "clientAuth");
    let server = TestServer::builder()
        .ca_file(&ca.cert())
        .env(
            "TENANTRY_SERVER__TLS__CERT_FILE",
            &cert.display().to_string(),
        )
        .env("TENANTRY_SERVER__TLS__KEY_FILE", &key.display().to_string())
        .env(
            "TENANTRY_SERVER__TLS__CLIENT_CA_FILE",
            &clients.cert().display().to_string(),
        )
        .start();
    // The operator's client has no certificate, and needs none.
    server.create_tenant("acme").await;
    let (token, _) = server.enrollment_token("acme").await;
    let work = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
    let trust = format!("  ca_file: {}\n", ca.cert().display());

    let out = agent_run(work.path(), "bare", &server, &token, &trust);
    assert!(
        !out.status.success(),
        "an agent without a certificate enrolled"
    );
    assert!(
        text(&out.stderr).contains("client certificate"),
        "{}",
        text(&out.stderr)
    );
    assert!(server.hostnames("acme").await.is_empty());

    let with_cert = format!(
        "{trust}  client_cert_file: {}\n  client_key_file: {}\n",
        client_cert.display(),
        client_key.display()
    );
    let out = agent_run(work.path(), "certified", &server, &token, &with_cert);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(server.hostnames("acme").await.len(), 1);
}

/// PostgreSQL with `ssl=on`, every URL of the server asking for `sslmode=verify-full`: the
/// server's connections to the registry and to both instances are TLS, tenants of both
/// modes work, and a CA that did not sign the servers' certificates stops the start.
#[tokio::test]
async fn postgres_connections_are_tls_and_verify_the_server() {
    let ca = Ca::new();
    let (cert, key) = ca.issue("postgres");
    let pg = PgEnv::start_tls(&ca.cert(), &cert, &key);
    let server = TestServer::builder().mode(Mode::PgDatabase).pg(&pg).start();
    server.create_tenant_on("acme", "database", "eu1").await;
    server.create_tenant_on("beta", "schema", "us1").await;
    server.create_host("acme", "a1").await;
    server.create_host("beta", "b1").await;
    assert_eq!(server.hostnames("acme").await, ["a1"]);
    assert_eq!(server.hostnames("beta").await, ["b1"]);
    // Every client session but this query's own (the server names only some of its pools).
    const SESSIONS: &str = "SELECT coalesce(a.datname, '?') || ':' || s.ssl::text \
        FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
        WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()";
    for cluster in [&pg.registry, pg.instance("eu1"), pg.instance("us1")] {
        let sessions = pg_strings(&cluster.url("postgres"), SESSIONS).await;
        assert!(!sessions.is_empty(), "the server holds no connection here");
        assert!(
            sessions.iter().all(|s| s.ends_with(":true")),
            "a connection without TLS: {sessions:?}"
        );
    }
    drop(server);

    // Told to trust another CA for the registry, the server does not start, and says why.
    let other = Ca::new();
    let (ca_s, other_s) = (
        ca.cert().display().to_string(),
        other.cert().display().to_string(),
    );
    let config = pg.config(Mode::PgDatabase);
    let stderr = serve_refused(&config.replace(&ca_s, &other_s));
    assert!(
        stderr.contains("registry")
            && (stderr.contains("certificate") || stderr.contains("UnknownIssuer")),
        "{stderr}"
    );

    // The registry trusted, one instance not: the start stops naming that instance, rather
    // than its tenants failing one request at a time.
    let eu1_port = format!(":{}/", pg.instance("eu1").port);
    let config: String = config
        .lines()
        .map(|line| match line.contains(&eu1_port) {
            true => line.replace(&ca_s, &other_s),
            false => line.to_owned(),
        } + "\n")
        .collect();
    let stderr = serve_refused(&config);
    assert!(
        stderr.contains("instance `eu1`") && stderr.contains("invalid peer certificate"),
        "{stderr}"
    );
}

/// Runs `serve` with `config`, which must fail; its standard error.
fn serve_refused(config: &str) -> String {
    let dir = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("tenantry.yaml");
    std::fs::write(&path, config).unwrap_or_else(|e| panic!("{e}"));
    let (path_s, data_s) = (
        path.display().to_string(),
        dir.path().join("data").display().to_string(),
    );
    let out = crate::support::run_to_refusal(
        &["serve", "--config", &path_s],
        &[
            ("TENANTRY_DATA_DIR", data_s.as_str()),
            ("TENANTRY_SERVER__LISTEN", "127.0.0.1:0"),
        ],
    );
    assert!(!out.status.success(), "started with {config}");
    text(&out.stderr)
}

/// A server certificate that has expired is refused by clients, and the message says so.
#[tokio::test]
async fn an_expired_server_certificate_is_refused_and_named_as_such() {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, date_time_ymd};
    let dir = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
    let made = (|| -> Result<(String, String, String), rcgen::Error> {
        let ca_key = KeyPair::generate()?;
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key)?;
        let key = KeyPair::generate()?;
        let mut leaf =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?;
        leaf.not_before = date_time_ymd(2020, 1, 1);
        leaf.not_after = date_time_ymd(2020, 12, 31);
        let cert = leaf.signed_by(&key, &Issuer::new(ca, &ca_key))?;
        Ok((ca_cert.pem(), cert.pem(), key.serialize_pem()))
    })()
    .unwrap_or_else(|e| panic!("{e}"));
    let (ca, cert, key) = (
        dir.path().join("ca.pem"),
        dir.path().join("cert.pem"),
        dir.path().join("key.pem"),
    );
    for (path, pem) in [(&ca, &made.0), (&cert, &made.1), (&key, &made.2)] {
        std::fs::write(path, pem).unwrap_or_else(|e| panic!("{e}"));
    }
    let server = TestServer::builder()
        .env(
            "TENANTRY_SERVER__TLS__CERT_FILE",
            &cert.display().to_string(),
        )
        .env("TENANTRY_SERVER__TLS__KEY_FILE", &key.display().to_string())
        .start();
    let ca_s = ca.display().to_string();
    let out = run(
        &["tenants", "list"],
        &[
            ("TENANTRY_SERVER_URL", server.url.as_str()),
            ("TENANTRY_API_KEY", server.key()),
            ("TENANTRY_CA_FILE", &ca_s),
        ],
    );
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "trusted an expired certificate");
    assert!(stderr.to_lowercase().contains("expired"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Redis over TLS (`rediss://`, with `cache.ca_file`): tenants' budgets are kept there, and
/// a Redis whose certificate that CA did not sign stops the start, naming `cache.url`.
#[tokio::test]
async fn redis_over_tls_keeps_the_budgets_and_a_wrong_ca_stops_the_start() {
    let ca = Ca::new();
    let (cert, key) = ca.issue("redis");
    let redis = RedisServer::start_tls(&TlsFiles {
        ca: &ca.cert(),
        cert: &cert,
        key: &key,
    });
    let ca_s = ca.cert().display().to_string();
    let server = TestServer::builder()
        .env("TENANTRY_CACHE__URL", &redis.url())
        .env("TENANTRY_CACHE__CA_FILE", &ca_s)
        .start();
    server.create_tenant("acme").await;
    let (status, body) = crate::support::call(
        server
            .op(reqwest::Method::PATCH, "/api/v1/tenants/acme")
            .json(&serde_json::json!({ "limits": { "requests_per_second": 1, "burst": 1 } })),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    let token = server.admin_token("acme").await;
    let hosts = || {
        server
            .anon(reqwest::Method::GET, "/api/v1/hosts")
            .bearer_auth(&token)
    };
    assert_eq!(
        crate::support::call(hosts()).await.0,
        reqwest::StatusCode::OK
    );
    assert_eq!(
        crate::support::call(hosts()).await.0,
        reqwest::StatusCode::TOO_MANY_REQUESTS
    );
    // The budget is Redis's, read back over TLS by redis-cli (not our code).
    let out = Command::new("redis-cli")
        .args(["--tls", "--cacert", &ca_s, "-p", &redis.port.to_string()])
        .args(["--scan", "--pattern", "t:acme:*"])
        .output()
        .unwrap_or_else(|e| panic!("redis-cli: {e}"));
    assert!(
        !text(&out.stdout).trim().is_empty(),
        "no budget in Redis: {}",
        text(&out.stderr)
    );
    let (status, health) = crate::support::call(server.anon(reqwest::Method::GET, "/readyz")).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{health}");
    assert!(health.get("notes").is_none(), "{health}");
    drop(server);

    let other = Ca::new();
    let config = format!(
        "cache:\n  url: {}\n  ca_file: {}\n",
        redis.url(),
        other.cert().display()
    );
    let stderr = serve_refused(&config);
    assert!(
        stderr.contains("cache.url") && stderr.contains("certificate"),
        "{stderr}"
    );
}
