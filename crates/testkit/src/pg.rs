//! Throwaway PostgreSQL clusters from the system's own `initdb` and `postgres`.
//!
//! `initdb` runs once per test run into a cached template directory; each cluster is a copy
//! of it, started with `pg_ctl start -w`, which returns only when the server accepts
//! connections. The binaries refuse to run as root, so they run as the `postgres` user.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tempfile::TempDir;

/// Debian keeps the binaries in a versioned directory, not on PATH.
pub fn bindir() -> PathBuf {
    let mut candidates: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").is_file() && p.join("postgres").is_file())
        .collect();
    candidates.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    candidates.pop().unwrap_or_else(|| {
        panic!("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin; run scripts/test")
    })
}

fn version_of(bindir: &Path) -> String {
    bindir
        .parent()
        .and_then(|v| v.file_name())
        .map(|v| v.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn as_postgres(program: &Path) -> Command {
    let mut cmd = Command::new("runuser");
    cmd.args(["-u", "postgres", "--"])
        .arg(program)
        .stdin(Stdio::null());
    cmd
}

fn chown_postgres(path: &Path) {
    let status = Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(path)
        .status();
    assert!(
        status.is_ok_and(|s| s.success()),
        "chown {}",
        path.display()
    );
}

/// The initdb'd template, made once and shared by every cluster of this test run.
fn template() -> PathBuf {
    let root = std::env::temp_dir().join(format!("tenantry-pg-template-{}", version_of(&bindir())));
    let done = root.join("ready");
    if done.is_file() {
        return root.join("data");
    }
    std::fs::create_dir_all(&root).unwrap_or_else(|e| panic!("{e}"));
    let lock = std::fs::File::create(root.join("lock")).unwrap_or_else(|e| panic!("{e}"));
    lock.lock()
        .unwrap_or_else(|e| panic!("locking the PostgreSQL template: {e}"));
    if !done.is_file() {
        let data = root.join("data");
        let _ = std::fs::remove_dir_all(&data);
        std::fs::create_dir_all(&data).unwrap_or_else(|e| panic!("{e}"));
        chown_postgres(&root);
        let out = as_postgres(&bindir().join("initdb"))
            .args([
                "--auth=trust",
                "--username=postgres",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
                "-D",
            ])
            .arg(&data)
            .output()
            .unwrap_or_else(|e| panic!("initdb: {e}"));
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(&done, b"").unwrap_or_else(|e| panic!("{e}"));
    }
    root.join("data")
}

const HBA: &str = "local all all trust\n\
host all postgres 127.0.0.1/32 trust\n\
host all all 127.0.0.1/32 scram-sha-256\n";

pub struct PgCluster {
    pub port: u16,
    dir: TempDir,
    /// With TLS: the server's certificate and key, inside the cluster's directory.
    ssl: Option<(PathBuf, PathBuf)>,
}

impl PgCluster {
    pub fn start() -> PgCluster {
        Self::start_with(None)
    }

    /// With `ssl=on`, serving `cert` (PEM, for 127.0.0.1) with `key`. Clients may still
    /// connect without TLS; those that ask for `sslmode=verify-full` verify it.
    pub fn start_tls(cert: &Path, key: &Path) -> PgCluster {
        Self::start_with(Some((cert, key)))
    }

    fn start_with(tls: Option<(&Path, &Path)>) -> PgCluster {
        let template = template();
        let dir = TempDir::new().unwrap_or_else(|e| panic!("{e}"));
        let data = dir.path().join("data");
        let status = Command::new("cp")
            .arg("-a")
            .arg(&template)
            .arg(&data)
            .status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "copying the cluster template"
        );
        std::fs::create_dir_all(dir.path().join("sock")).unwrap_or_else(|e| panic!("{e}"));
        // Like a real server: the superuser is trusted on loopback (tests and bootstrap use
        // it), every other role must present a valid password.
        std::fs::write(data.join("pg_hba.conf"), HBA).unwrap_or_else(|e| panic!("{e}"));
        let ssl = tls.map(|(cert, key)| {
            let (to_cert, to_key) = (dir.path().join("server.crt"), dir.path().join("server.key"));
            std::fs::copy(cert, &to_cert).unwrap_or_else(|e| panic!("{e}"));
            std::fs::copy(key, &to_key).unwrap_or_else(|e| panic!("{e}"));
            // PostgreSQL refuses a key others can read.
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&to_key, std::fs::Permissions::from_mode(0o600))
                    .unwrap_or_else(|e| panic!("{e}"));
            }
            (to_cert, to_key)
        });
        chown_postgres(dir.path());
        let mut cluster = PgCluster { port: 0, dir, ssl };
        // A free port can be taken between our probe and the server's bind: retry.
        for _ in 0..5 {
            cluster.port = free_port();
            if cluster.pg_ctl_start() {
                return cluster;
            }
        }
        let log = std::fs::read_to_string(cluster.dir.path().join("log")).unwrap_or_default();
        panic!("PostgreSQL did not start:\n{log}");
    }

    fn pg_ctl_start(&self) -> bool {
        let mut options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=300 -c shared_buffers=32MB",
            self.port,
            self.dir.path().join("sock").display()
        );
        if let Some((cert, key)) = &self.ssl {
            options.push_str(&format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                cert.display(),
                key.display()
            ));
        }
        as_postgres(&bindir().join("pg_ctl"))
            .args(["start", "-w", "-t", "60", "-s", "-D"])
            .arg(self.dir.path().join("data"))
            .arg("-l")
            .arg(self.dir.path().join("log"))
            .arg("-o")
            .arg(options)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// A superuser URL for `database`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Stops the server (to simulate an instance going down); `resume` brings it back.
    pub fn stop(&self) {
        self.pg_ctl("stop", "fast");
    }

    pub fn resume(&self) {
        assert!(self.pg_ctl_start(), "restarting PostgreSQL");
    }

    /// Stops the postmaster in its tracks (SIGSTOP): new connections are accepted by the
    /// kernel and then never answered — a server that hangs, not one that is down.
    /// Sessions already open keep working. [`PgCluster::thaw`] undoes it.
    pub fn freeze(&self) {
        self.signal_postmaster("-STOP");
    }

    pub fn thaw(&self) {
        self.signal_postmaster("-CONT");
    }

    fn signal_postmaster(&self, signal: &str) {
        if let Err(e) = self.try_signal_postmaster(signal) {
            panic!("{e}");
        }
    }

    fn try_signal_postmaster(&self, signal: &str) -> Result<(), String> {
        let pidfile = self.dir.path().join("data").join("postmaster.pid");
        let text = std::fs::read_to_string(&pidfile)
            .map_err(|e| format!("reading {}: {e}", pidfile.display()))?;
        let pid = text.lines().next().unwrap_or_default().trim().to_owned();
        crate::process::signal(&pid, signal)
    }

    fn pg_ctl(&self, action: &str, mode: &str) {
        let _ = as_postgres(&bindir().join("pg_ctl"))
            .args([action, "-w", "-s", "-m", mode, "-D"])
            .arg(self.dir.path().join("data"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        // A frozen postmaster (a test that failed before thawing it) cannot stop.
        let _ = self.try_signal_postmaster("-CONT");
        self.pg_ctl("stop", "immediate");
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("finding a free port: {e}"))
}
