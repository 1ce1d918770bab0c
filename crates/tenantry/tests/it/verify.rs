//! `tenantry verify-routing` finds hosts that are anywhere but their own tenant's storage.

use crate::on_every_backend;
use crate::support::{Mode, TestServer, run, text};

on_every_backend!(verify_routing_counts_hosts_and_finds_misplaced_ones);

async fn verify_routing_counts_hosts_and_finds_misplaced_ones(mode: Mode) {
    let server = TestServer::start_on(mode);
    server.create_tenant("acme").await;
    server.create_tenant("beta").await;
    let a1 = server.create_host("acme", "a1").await;
    server.create_host("acme", "a2").await;
    server.create_host("beta", "b1").await;
    let env_owned = server.command_env();
    let env: Vec<(&str, &str)> = env_owned
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();

    let out = run(&["verify-routing"], &env);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let line = |t: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(t))
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        line("acme").get(3).map(String::as_str),
        Some("2"),
        "{stdout}"
    );
    assert_eq!(
        line("beta").get(3).map(String::as_str),
        Some("1"),
        "{stdout}"
    );
    assert_eq!(
        line("acme").get(2).map(String::as_str),
        Some(mode.isolation()),
        "{stdout}"
    );
    assert!(stdout.contains("routing verified"), "{stdout}");

    // acme's host, planted in beta's storage behind the server's back.
    let id = a1.id.to_string();
    server.plant_host("beta", &id, "a1-copy").await;
    let out = run(&["verify-routing"], &env);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}{stderr}", text(&out.stdout));
    assert!(
        stderr.contains(&format!("host {id} is in tenant acme and in tenant beta")),
        "{stderr}"
    );
}
