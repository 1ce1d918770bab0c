//! A throwaway Redis: `redis-server` on a free loopback port, in memory only (no RDB, no
//! AOF), in a temporary directory. Debian's `redis-server` package provides it
//! (scripts/test installs it when missing).
//!
//! Readiness is the server's own word: it logs "Ready to accept connections" once it
//! listens.

use std::path::Path;
use std::process::{Child, Command};

use crate::pg::free_port;
use crate::process::start_when_ready;

pub struct RedisServer {
    pub port: u16,
    /// Whether it speaks TLS (only).
    pub tls: bool,
    child: Child,
    _dir: tempfile::TempDir,
}

/// A server certificate and key (PEM) and the CA that issued them.
pub struct TlsFiles<'a> {
    pub ca: &'a Path,
    pub cert: &'a Path,
    pub key: &'a Path,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        Self::start_with(None)
    }

    /// Redis speaking TLS only, with this certificate; clients are not asked for one.
    pub fn start_tls(files: &TlsFiles) -> RedisServer {
        Self::start_with(Some(files))
    }

    fn start_with(tls: Option<&TlsFiles>) -> RedisServer {
        // A free port can be taken between our probe and the server's bind: retry.
        for _ in 0..5 {
            let port = free_port();
            let dir = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
            let mut cmd = Command::new("redis-server");
            cmd.args(["--bind", "127.0.0.1"]);
            match tls {
                None => cmd.arg("--port").arg(port.to_string()),
                Some(files) => cmd
                    .args(["--port", "0", "--tls-port"])
                    .arg(port.to_string())
                    .arg("--tls-cert-file")
                    .arg(files.cert)
                    .arg("--tls-key-file")
                    .arg(files.key)
                    .arg("--tls-ca-cert-file")
                    .arg(files.ca)
                    .args(["--tls-auth-clients", "no"]),
            };
            cmd.args(["--save", "", "--appendonly", "no", "--logfile", ""])
                .arg("--dir")
                .arg(dir.path());
            let ready = |line: &str| line.contains("Ready to accept connections");
            let hint = "starting `redis-server`; run scripts/test, which installs it";
            if let Some(child) = start_when_ready(cmd, ready, hint) {
                return RedisServer {
                    port,
                    tls: tls.is_some(),
                    child,
                    _dir: dir,
                };
            }
        }
        panic!("Redis did not start");
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// Stops the server in its tracks (SIGSTOP): connections stay open and nothing
    /// answers — a Redis that hangs. [`RedisServer::thaw`] undoes it.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        if let Err(e) = crate::process::signal(&self.child.id().to_string(), signal) {
            panic!("{e}");
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
