//! `tenantry migrate` against real data directories: fan-out, status, dry run, failures.

use std::path::{Path, PathBuf};

use tenantry_proto::ChainStatus;

use crate::support::{TestServer, run, text};

/// The tenant chain version this build ships (its newest migration).
pub fn shipped() -> i64 {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations/sqlite/tenant");
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .split('_')
                .next()?
                .parse::<i64>()
                .ok()
        })
        .max()
        .unwrap_or(0)
}

/// The version of the extra migration [`migrations_with_extra_tenant_migration`] adds.
pub fn extra() -> i64 {
    shipped() + 1
}

pub fn migrations_with_extra_tenant_migration(root: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
    let dst = root.join("migrations");
    copy_dir(&src, &dst);
    for backend in ["sqlite", "postgres"] {
        std::fs::write(
            dst.join(format!("{backend}/tenant/{:04}_host_notes.sql", extra())),
            "ALTER TABLE hosts ADD COLUMN notes TEXT;\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }
    dst
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap_or_else(|e| panic!("{e}"));
    for entry in std::fs::read_dir(src)
        .unwrap_or_else(|e| panic!("{}: {e}", src.display()))
        .flatten()
    {
        let to = dst.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &to);
        } else {
            std::fs::copy(entry.path(), &to).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

async fn tenant_version(path: &Path) -> i64 {
    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::{ConnectOptions, Connection};
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .connect()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let v: i64 =
        sqlx::query_scalar("SELECT MAX(version) FROM _tenantry_tenant_migrations WHERE success")
            .fetch_one(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let _ = conn.close().await;
    v
}

/// Every named database has a `--status` line, and it says `current`.
pub fn assert_all_current(stdout: &str, databases: &[&str]) {
    for db in databases {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(db))
            .unwrap_or_else(|| panic!("{db} missing:\n{stdout}"));
        assert!(line.contains("current"), "{line}");
    }
}

#[tokio::test]
async fn migrate_is_idempotent_and_status_lists_every_database() {
    let server = TestServer::start();
    server.create_tenant("acme").await;
    server.create_tenant("beta").await;
    let data = server.stop();
    let data_s = data.display().to_string();
    let env = [("TENANTRY_DATA_DIR", data_s.as_str())];

    for _ in 0..2 {
        let out = run(&["migrate"], &env);
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
        assert!(stdout.contains(" 0 migrated"), "not a no-op: {stdout}");
        assert!(stdout.contains("0 failed"), "{stdout}");
    }

    let out = run(&["migrate", "--status"], &env);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert_all_current(
        &stdout,
        &[
            "registry",
            "shared",
            "template",
            "tenant acme",
            "tenant beta",
            "tenant default",
        ],
    );
}

#[tokio::test]
async fn a_broken_tenant_fails_alone_and_the_others_are_migrated() {
    let server = TestServer::start();
    for slug in ["acme", "beta", "gamma"] {
        server.create_tenant(slug).await;
        server.create_host(slug, "h1").await;
    }
    let data = server.stop();
    std::fs::write(
        data.join("tenants/beta.db"),
        b"this is not a database, it is a broken file ......",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let scratch = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
    let migrations = migrations_with_extra_tenant_migration(scratch.path());
    let data_s = data.display().to_string();
    let migrations_s = migrations.display().to_string();
    let env = [
        ("TENANTRY_DATA_DIR", data_s.as_str()),
        ("TENANTRY_MIGRATIONS__DIR", migrations_s.as_str()),
    ];

    // A dry run reports the new migration and changes nothing.
    let out = run(&["migrate", "--dry-run"], &env);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!("would apply: {} host notes", extra())),
        "{stdout}"
    );
    assert_eq!(
        tenant_version(&data.join("tenants/acme.db")).await,
        shipped()
    );

    let out = run(&["migrate", "--concurrency", "2"], &env);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}{stderr}", text(&out.stdout));
    assert!(
        stderr.contains("migration failed for: tenant beta"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("tenant acme") && !stderr.contains("tenant gamma"),
        "{stderr}"
    );
    for slug in ["acme", "gamma", "default"] {
        assert_eq!(
            tenant_version(&data.join(format!("tenants/{slug}.db"))).await,
            extra(),
            "{slug}"
        );
    }
    assert_eq!(tenant_version(&data.join("template.db")).await, extra());

    // The registry recorded the new versions: a second run skips them without connecting,
    // and fails again only for the broken tenant.
    let out = run(&["migrate"], &env);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout.contains("tenant acme (tenant): skipped"), "{stdout}");
    assert!(text(&out.stderr).contains("tenant beta"));

    // A new tenant created from the migrated template starts at the extra migration's version.
    let restarted = TestServer::builder()
        .data_dir(&data)
        .env("TENANTRY_MIGRATIONS__DIR", &migrations_s)
        .start();
    let created = restarted.create_tenant("delta").await;
    assert_eq!(created.tenant_chain_version, Some(extra()));
    assert_eq!(tenant_version(&restarted.tenant_db("delta")).await, extra());
}

#[tokio::test]
async fn selecting_chains_and_tenants() {
    let server = TestServer::start();
    server.create_tenant("acme").await;
    server.create_tenant("beta").await;
    let data = server.stop();
    let scratch = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
    let migrations = migrations_with_extra_tenant_migration(scratch.path());
    let data_s = data.display().to_string();
    let migrations_s = migrations.display().to_string();
    let env = [
        ("TENANTRY_DATA_DIR", data_s.as_str()),
        ("TENANTRY_MIGRATIONS__DIR", migrations_s.as_str()),
    ];

    let out = run(&["migrate", "--no-tenants"], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        tenant_version(&data.join("tenants/acme.db")).await,
        shipped()
    );

    let out = run(&["migrate", "--tenant", "acme"], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(tenant_version(&data.join("tenants/acme.db")).await, extra());
    assert_eq!(
        tenant_version(&data.join("tenants/beta.db")).await,
        shipped()
    );
    assert_eq!(
        tenant_version(&data.join("template.db")).await,
        shipped(),
        "--tenant leaves the template alone"
    );

    let out = run(&["migrate", "--tenant", "ghost"], &env);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("tenant ghost"),
        "{}",
        text(&out.stderr)
    );

    let out = run(&["migrate", "--tenants-only"], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(tenant_version(&data.join("tenants/beta.db")).await, extra());
    assert_eq!(tenant_version(&data.join("template.db")).await, extra());
}

#[tokio::test]
async fn the_api_reports_each_database_and_its_pending_migrations() {
    let server = TestServer::start();
    server.create_tenant("acme").await;
    let rows = migration_rows(&server).await;
    let targets: Vec<&str> = rows.iter().map(|r| r.target.as_str()).collect();
    for t in [
        "registry",
        "shared",
        "template",
        "tenant acme",
        "tenant default",
    ] {
        assert!(targets.contains(&t), "{t} missing: {targets:?}");
    }
    for r in &rows {
        assert!(r.pending.is_empty(), "{r:?}");
        assert_eq!(r.current, Some(r.latest), "{r:?}");
    }
    let acme = row(&rows, "tenant acme");
    assert!(acme.recorded, "{acme:?}");

    // The server now ships one more tenant migration and does not apply it at start:
    // acme has it pending.
    let data = server.stop();
    let scratch = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
    let migrations = migrations_with_extra_tenant_migration(scratch.path());
    let restarted = TestServer::builder()
        .data_dir(&data)
        .env(
            "TENANTRY_MIGRATIONS__DIR",
            &migrations.display().to_string(),
        )
        .env("TENANTRY_MIGRATIONS__ON_START", "false")
        .start();
    let rows = migration_rows(&restarted).await;
    let acme = row(&rows, "tenant acme");
    assert_eq!(acme.current, Some(shipped()), "{acme:?}");
    assert_eq!(acme.latest, extra(), "{acme:?}");
    assert!(!acme.recorded, "{acme:?}");
    let pending: Vec<(i64, &str)> = acme
        .pending
        .iter()
        .map(|p| (p.version, p.description.as_str()))
        .collect();
    assert_eq!(pending, [(extra(), "host notes")]);
    // Reading the status changed nothing.
    assert_eq!(
        tenant_version(&restarted.tenant_db("acme")).await,
        shipped()
    );
}

async fn migration_rows(server: &TestServer) -> Vec<ChainStatus> {
    crate::support::answer(
        server.op(reqwest::Method::GET, "/api/v1/migrations"),
        reqwest::StatusCode::OK,
    )
    .await
}

fn row<'a>(rows: &'a [ChainStatus], target: &str) -> &'a ChainStatus {
    rows.iter()
        .find(|r| r.target == target)
        .unwrap_or_else(|| panic!("no row for {target}: {rows:?}"))
}
