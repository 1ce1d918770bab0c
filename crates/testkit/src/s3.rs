//! A throwaway S3-compatible server: moto's (`pip install 'moto[server]'`, which scripts/test
//! does when `moto_server` is missing), in memory, on a free loopback port. It speaks the
//! S3 REST API over real HTTP — what Tenantry's media store talks to in production with
//! S3, MinIO or Ceph — and takes any credentials.
//!
//! Readiness is the server's own word: it logs "Running on http://…" once it listens.

use std::process::{Child, Command};

use crate::pg::free_port;
use crate::process::start_when_ready;

pub struct S3Server {
    pub port: u16,
    child: Child,
}

impl S3Server {
    pub fn start() -> S3Server {
        // A free port can be taken between our probe and the server's bind: retry.
        for _ in 0..5 {
            let port = free_port();
            let mut cmd = Command::new("sh");
            // moto logs to stderr; readiness is read from stdout.
            cmd.arg("-c")
                .arg(format!("exec moto_server -H 127.0.0.1 -p {port} 2>&1"));
            let ready = |line: &str| line.contains("Running on http://");
            let hint = "starting `moto_server`; run scripts/test, which installs it";
            if let Some(child) = start_when_ready(cmd, ready, hint) {
                return S3Server { port, child };
            }
        }
        panic!(
            "the S3 server did not start; is `moto_server` installed? (scripts/test installs it)"
        );
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
