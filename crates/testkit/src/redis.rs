//! A throwaway Redis: `redis-server` on a free loopback port, in memory only (no RDB, no
//! AOF), in a temporary directory. Debian's `redis-server` package provides it
//! (scripts/test installs it when missing).
//!
//! Readiness is the server's own word: it logs "Ready to accept connections" once it
//! listens.

use std::process::{Child, Command};

use crate::pg::free_port;
use crate::process::start_when_ready;

pub struct RedisServer {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        // A free port can be taken between our probe and the server's bind: retry.
        for _ in 0..5 {
            let port = free_port();
            let dir = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
            let mut cmd = Command::new("redis-server");
            cmd.args(["--bind", "127.0.0.1", "--port"])
                .arg(port.to_string())
                .args(["--save", "", "--appendonly", "no", "--logfile", ""])
                .arg("--dir")
                .arg(dir.path());
            let ready = |line: &str| line.contains("Ready to accept connections");
            let hint = "starting `redis-server`; run scripts/test, which installs it";
            if let Some(child) = start_when_ready(cmd, ready, hint) {
                return RedisServer {
                    port,
                    child,
                    _dir: dir,
                };
            }
        }
        panic!("Redis did not start");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
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
