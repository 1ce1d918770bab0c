//! Resumable lifecycle: the server process really aborts after each recorded step of
//! creating or deleting a tenant; the next start (reconcile) must leave the tenant fully
//! active or fully gone — no orphan database, group role, login role, OpenBAO role or lease.

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::json;

use tenantry_proto::{Tenant, TenantStatus};

use crate::support::{KeptData, Mode, PgEnv, TestServer, answer, call, new_key, pg_count};

const CREATE_STEPS: &[&str] = &["registered", "storage", "credentials", "migrated", "media"];
const DELETE_STEPS: &[&str] = &[
    "deleting",
    "credentials_revoked",
    "storage_dropped",
    "media_removed",
    "verified",
];

fn server(
    pg: &Arc<PgEnv>,
    key: &str,
    data: Option<&KeptData>,
    crash_after: Option<&str>,
) -> TestServer {
    let mut builder = TestServer::builder()
        .mode(Mode::PgDatabase)
        .pg(pg)
        .api_key(key);
    if let Some(data) = data {
        builder = builder.data_dir(data);
    }
    if let Some(step) = crash_after {
        builder = builder.env("TENANTRY_CRASH_AFTER", step);
    }
    builder.start()
}

/// Sends a request the server is expected to die in the middle of; returns its data.
async fn crash_during(
    mut server: TestServer,
    method: Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> KeptData {
    let mut request = server.op(method, path);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let answer = request.send().await;
    assert!(
        answer.is_err(),
        "the server answered instead of crashing: {answer:?}"
    );
    let status = server.wait_exit();
    assert!(!status.success(), "the server exited cleanly");
    server.stop()
}

/// What exists of the tenant, everywhere it could be.
async fn traces(pg: &PgEnv, slug: &str) -> Vec<String> {
    let physical = format!("t_{}", slug.replace('-', "_"));
    let mut found = Vec::new();
    for (name, .., cluster) in &pg.instances {
        let url = cluster.url("postgres");
        if pg_count(
            &url,
            "SELECT count(*) FROM pg_database WHERE datname = $1",
            &physical,
        )
        .await
            > 0
        {
            found.push(format!("{name}: database"));
        }
        if pg_count(
            &url,
            "SELECT count(*) FROM pg_roles WHERE rolname = $1",
            &format!("{physical}_rw"),
        )
        .await
            > 0
        {
            found.push(format!("{name}: group role"));
        }
        let logins = pg_count(
            &url,
            "SELECT count(*) FROM pg_roles WHERE rolcanlogin AND rolname LIKE '%tenant-' || $1 || '-%'",
            slug,
        )
        .await;
        if logins > 0 {
            found.push(format!("{name}: {logins} login roles"));
        }
    }
    let (status, _) = pg
        .bao_call("GET", &format!("database/roles/tenant-{slug}"))
        .await;
    if status == StatusCode::OK {
        found.push("OpenBAO role".into());
    }
    let (_, leases) = pg
        .bao_call(
            "LIST",
            &format!("sys/leases/lookup/database/creds/tenant-{slug}/"),
        )
        .await;
    if leases["data"]["keys"]
        .as_array()
        .is_some_and(|k| !k.is_empty())
    {
        found.push("OpenBAO leases".into());
    }
    found
}

#[tokio::test]
async fn a_crash_after_any_create_step_ends_with_a_fully_active_tenant() {
    let pg = PgEnv::start_with_openbao();
    let key = new_key();
    let mut data: Option<KeptData> = None;
    for step in CREATE_STEPS {
        let slug = format!("c-{}", step.replace('_', "-"));
        let crashing = server(&pg, &key, data.as_ref(), Some(step));
        let kept = crash_during(
            crashing,
            Method::POST,
            "/api/v1/tenants",
            Some(json!({ "slug": slug })),
        )
        .await;

        // The restart reconciles before it listens.
        let restarted = server(&pg, &key, Some(&kept), None);
        let tenant: Tenant = answer(
            restarted.op(Method::GET, &format!("/api/v1/tenants/{slug}")),
            StatusCode::OK,
        )
        .await;
        assert_eq!(
            tenant.status,
            TenantStatus::Active,
            "after a crash at {step}: {tenant:?}"
        );
        assert!(tenant.lifecycle_step.is_none(), "{tenant:?}");
        restarted.create_host(&slug, "host-1").await;
        assert_eq!(
            restarted.hostnames(&slug).await,
            vec!["host-1".to_owned()],
            "after a crash at {step}"
        );
        let found = traces(&pg, &slug).await;
        for expected in ["database", "group role", "OpenBAO role"] {
            assert!(
                found.iter().any(|f| f.ends_with(expected)),
                "after a crash at {step}: {found:?}"
            );
        }
        data = Some(restarted.stop());
    }
}

#[tokio::test]
async fn a_crash_after_any_delete_step_ends_with_nothing_left() {
    let pg = PgEnv::start_with_openbao();
    let key = new_key();
    let setup = server(&pg, &key, None, None);
    for step in DELETE_STEPS {
        let slug = format!("d-{}", step.replace('_', "-"));
        setup.create_tenant(&slug).await;
        setup.create_host(&slug, "host-1").await;
    }
    let mut data = Some(setup.stop());
    for step in DELETE_STEPS {
        let slug = format!("d-{}", step.replace('_', "-"));
        let crashing = server(&pg, &key, data.as_ref(), Some(step));
        let kept = crash_during(
            crashing,
            Method::DELETE,
            &format!("/api/v1/tenants/{slug}"),
            None,
        )
        .await;

        let restarted = server(&pg, &key, Some(&kept), None);
        let (status, body) =
            call(restarted.op(Method::GET, &format!("/api/v1/tenants/{slug}"))).await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "after a crash at {step}: {body}"
        );
        assert_eq!(
            traces(&pg, &slug).await,
            Vec::<String>::new(),
            "after a crash at {step}"
        );
        // The slug is free again, for a new and empty tenant.
        restarted.create_tenant(&slug).await;
        assert!(
            restarted.hostnames(&slug).await.is_empty(),
            "after a crash at {step}"
        );
        data = Some(restarted.stop());
    }
}
