//! The TLS column of `read`: the same routed reads over HTTPS with keep-alive, against the
//! same stack served with `--dev-tls` (an ECDSA P-256 certificate from its own CA), next to
//! the plain-HTTP figures measured just before; and how many new TLS connections a second
//! the server accepts (one `GET /healthz` on each, no keep-alive), next to new plain ones.

use std::time::Duration;

use reqwest::header::HeaderValue;
use serde::Serialize;

use crate::load::{self, Costed, Load, Target};
use crate::read::{CONNECTIONS, Windows};
use crate::server::Server;

#[derive(Debug, Serialize)]
pub struct TlsRead {
    pub mode: String,
    pub tenants: usize,
    pub http: Load,
    pub https: Load,
    /// Server CPU per routed read, in µs.
    pub http_server_cpu_us: f64,
    pub https_server_cpu_us: f64,
    /// `https_server_cpu_us ÷ http_server_cpu_us − 1`; the target is ≤ 0.10.
    pub cpu_overhead: f64,
    /// New TLS connections a second, each with one `GET /healthz`.
    pub handshakes: Load,
    /// Server CPU per new connection (accept, handshake, one `/healthz`), in µs.
    pub server_cpu_us_per_handshake: f64,
    /// The same over plain HTTP: what the handshake adds is the difference.
    pub http_connections: Load,
    pub server_cpu_us_per_http_connection: f64,
}

/// The HTTP side, measured on the plain server before it stops.
pub struct Plain {
    pub reads: Costed,
    pub connections: Costed,
}

/// New connections, one `GET /healthz` each, as fast as `CONNECTIONS` workers open them.
pub async fn connections(
    server: &Server,
    tokens: &[HeaderValue],
    windows: Windows,
) -> anyhow::Result<Costed> {
    let connect = Target {
        tls: server.tls.clone(),
        keep_alive: false,
        ..Target::get(format!("{}/healthz", server.url), tokens.to_vec())
    };
    load::costed(
        connect,
        CONNECTIONS,
        Duration::from_secs(1),
        windows.measure.min(Duration::from_secs(5)),
        server.pid(),
    )
    .await
}

/// `https` is the stack served over TLS; `http` what the plain server measured.
pub async fn measure(
    https: &Server,
    mode: &str,
    tenants: usize,
    tokens: &[HeaderValue],
    windows: Windows,
    http: &Plain,
) -> anyhow::Result<TlsRead> {
    let reads = Target {
        tls: https.tls.clone(),
        ..Target::get(
            format!("{}/api/v1/hosts?limit=20", https.url),
            tokens.to_vec(),
        )
    };
    let routed = load::costed(
        reads,
        CONNECTIONS,
        windows.warmup,
        windows.measure,
        https.pid(),
    )
    .await?;
    let handshakes = connections(https, tokens, windows).await?;
    for (what, load) in [
        ("HTTPS reads", &routed.load),
        ("handshakes", &handshakes.load),
    ] {
        if load.errors > 0 {
            eprintln!(
                "warning: {} of {} {what} failed",
                load.errors, load.requests
            );
        }
    }
    Ok(TlsRead {
        mode: mode.to_owned(),
        tenants,
        http: http.reads.load,
        https: routed.load,
        http_server_cpu_us: http.reads.server_cpu_us,
        https_server_cpu_us: routed.server_cpu_us,
        cpu_overhead: routed.server_cpu_us / http.reads.server_cpu_us.max(f64::MIN_POSITIVE) - 1.0,
        handshakes: handshakes.load,
        server_cpu_us_per_handshake: handshakes.server_cpu_us,
        http_connections: http.connections.load,
        server_cpu_us_per_http_connection: http.connections.server_cpu_us,
    })
}
