//! PostgreSQL: pools, and the administrative statements the provisioner needs. Every
//! identifier is quoted by [`quote_ident`]; values are bound.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, PgPool};

use sqlx::Postgres;
use sqlx::pool::PoolConnection;

use super::cancel::{Unsettled, transaction};
use super::sql::quote_ident;
use super::{Db, PoolSettings};
use crate::names::TEMPLATE_OWNER;

/// SQLSTATE 3D000: the database does not exist.
const INVALID_CATALOG_NAME: &str = "3D000";

pub fn options(url: &str) -> Result<PgConnectOptions, sqlx::Error> {
    PgConnectOptions::from_str(url)
}

/// A connection idle longer than this is pinged before it is handed out.
const PING_AFTER_IDLE: std::time::Duration = std::time::Duration::from_secs(1);

pub fn pool_options(settings: PoolSettings) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .min_connections(0)
        .idle_timeout(Some(settings.idle_timeout))
        .acquire_timeout(settings.acquire_timeout)
        .max_lifetime(settings.max_lifetime)
        // sqlx pings every connection on every acquire by default: one more round trip
        // per request (measured: docs/benchmarks.md). A connection in use within the last
        // second is alive; one idle longer (the server may have closed it) is pinged, and
        // dropped if it does not answer.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for < PING_AFTER_IDLE {
                    return Ok(true);
                }
                Ok(sqlx::Connection::ping(conn).await.is_ok())
            })
        })
}

/// Opens a pool, connecting once to prove the database is there.
pub async fn open(options: PgConnectOptions, settings: PoolSettings) -> Result<Db, sqlx::Error> {
    Ok(Db::Postgres(
        pool_options(settings).connect_with(options).await?,
    ))
}

/// Opens a pool on `options`' database, creating the database first if it is missing
/// (the registry and shared databases on a fresh server).
pub async fn open_or_create(
    options: PgConnectOptions,
    settings: PoolSettings,
) -> Result<Db, sqlx::Error> {
    match open(options.clone(), settings).await {
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some(INVALID_CATALOG_NAME) => {
            let name = options.get_database().unwrap_or("postgres").to_owned();
            let admin = pool_options(PoolSettings {
                max_connections: 1,
                ..settings
            })
            .connect_with(options.clone().database("postgres"))
            .await?;
            let created = create_database(&admin, &name, None).await;
            admin.close().await;
            created?;
            open(options, settings).await
        }
        other => other,
    }
}

pub fn is_missing_database(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(e) if e.code().as_deref() == Some(INVALID_CATALOG_NAME))
}

pub async fn database_exists<'c>(
    admin: impl sqlx::PgExecutor<'c>,
    name: &str,
) -> Result<bool, sqlx::Error> {
    let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(name)
        .fetch_optional(admin)
        .await?;
    Ok(found.is_some())
}

/// `CREATE DATABASE "name" [TEMPLATE "template"]`; an existing database is left alone.
pub async fn create_database(
    admin: &PgPool,
    name: &str,
    template: Option<&str>,
) -> Result<bool, sqlx::Error> {
    if database_exists(admin, name).await? {
        return Ok(false);
    }
    let mut sql = format!("CREATE DATABASE {}", quote_ident(name));
    if let Some(template) = template {
        sql.push_str(&format!(" TEMPLATE {}", quote_ident(template)));
    }
    match sqlx::query(AssertSqlSafe(sql)).execute(admin).await {
        Ok(_) => Ok(true),
        // Another process created it between our check and our statement (42P04), or at
        // the same moment: then ours waits for theirs and hits the unique name index.
        Err(sqlx::Error::Database(e))
            if e.code().as_deref() == Some("42P04") || e.is_unique_violation() =>
        {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Copies `template` into a new database while nobody else is connected to the template:
/// an advisory lock keeps our own template migrations out, and stray sessions are ended.
pub async fn create_database_from_template(
    admin: &PgPool,
    name: &str,
    template: &str,
) -> Result<bool, sqlx::Error> {
    let mut pooled = admin.acquire().await?;
    // Holds a session lock until unlocked: never pooled again if dropped before.
    let mut conn = Unsettled::new(&mut pooled);
    lock_template(&mut conn, template).await?;
    let result = async {
        // On the connection holding the lock: another from the same small admin pool could
        // be held by a request waiting for this lock (a deadlock at 4 concurrent creations).
        if database_exists(&mut *conn, name).await? {
            return Ok(false);
        }
        terminate_connections(&mut conn, template).await?;
        let sql = format!(
            "CREATE DATABASE {} TEMPLATE {}",
            quote_ident(name),
            quote_ident(template)
        );
        sqlx::query(AssertSqlSafe(sql))
            .execute(&mut *conn)
            .await
            .map(|_| true)
    }
    .await;
    let unlocked = unlock_template(&mut conn, template).await;
    let created = result?;
    unlocked?;
    conn.settle();
    Ok(created)
}

/// Holds the template's lock on `conn` (for migrating the template) until released.
pub async fn lock_template(
    conn: &mut sqlx::PgConnection,
    template: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_lock(hashtext($1))")
        .bind(template_lock_key(template))
        .execute(conn)
        .await
        .map(|_| ())
}

pub async fn unlock_template(
    conn: &mut sqlx::PgConnection,
    template: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_unlock(hashtext($1))")
        .bind(template_lock_key(template))
        .execute(conn)
        .await
        .map(|_| ())
}

fn template_lock_key(template: &str) -> String {
    format!("tenantry:template:{template}")
}

async fn terminate_connections(
    conn: &mut sqlx::PgConnection,
    database: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()")
        .bind(database)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Ends every session on the database and drops it.
pub async fn drop_database(admin: &PgPool, name: &str) -> Result<bool, sqlx::Error> {
    if !database_exists(admin, name).await? {
        return Ok(false);
    }
    let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(name));
    sqlx::query(AssertSqlSafe(sql)).execute(admin).await?;
    Ok(true)
}

pub async fn schema_exists(conn: &mut sqlx::PgConnection, name: &str) -> Result<bool, sqlx::Error> {
    let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_namespace WHERE nspname = $1")
        .bind(name)
        .fetch_optional(conn)
        .await?;
    Ok(found.is_some())
}

pub async fn drop_schema(conn: &mut sqlx::PgConnection, name: &str) -> Result<bool, sqlx::Error> {
    if !schema_exists(conn, name).await? {
        return Ok(false);
    }
    let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", quote_ident(name));
    sqlx::query(AssertSqlSafe(sql)).execute(conn).await?;
    Ok(true)
}

/// SQLSTATE 28P01 / 28000: the login was refused (an expired or revoked credential).
pub fn is_auth_failure(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(e)
        if matches!(e.code().as_deref(), Some("28P01") | Some("28000")))
}

/// The instance refused who we are or we refused who it is: an untrusted or mismatched
/// certificate, a refused login, a database that does not exist. Unlike an instance that
/// is down, none of these heals by waiting.
pub fn is_configuration_fault(err: &sqlx::Error) -> bool {
    let tls = match err {
        sqlx::Error::Tls(_) => true,
        // rustls reports a failed handshake inside the socket's I/O error.
        sqlx::Error::Io(e) => e
            .get_ref()
            .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some()),
        _ => false,
    };
    tls || is_auth_failure(err) || is_missing_database(err)
}

pub async fn role_exists<'c>(
    admin: impl sqlx::PgExecutor<'c>,
    role: &str,
) -> Result<bool, sqlx::Error> {
    let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_roles WHERE rolname = $1")
        .bind(role)
        .fetch_optional(admin)
        .await?;
    Ok(found.is_some())
}

/// Creates a NOLOGIN role (if missing) that the connected user is a member of, so it can
/// hand objects to it and act as it.
pub async fn ensure_group_role(admin: &PgPool, role: &str) -> Result<(), sqlx::Error> {
    if !role_exists(admin, role).await? {
        let create = format!("CREATE ROLE {} NOLOGIN", quote_ident(role));
        match sqlx::query(AssertSqlSafe(create)).execute(admin).await {
            Ok(_) => {}
            // Created meanwhile by another process.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42710") => {}
            Err(e) => return Err(e),
        }
    }
    let member: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid \
         WHERE r.rolname = $1 AND m.member = (SELECT oid FROM pg_roles WHERE rolname = current_user)",
    )
    .bind(role)
    .fetch_optional(admin)
    .await?;
    if member.is_none() {
        let grant = format!("GRANT {} TO CURRENT_USER", quote_ident(role));
        sqlx::query(AssertSqlSafe(grant)).execute(admin).await?;
    }
    Ok(())
}

/// Makes `login_role` a member of each of `groups`. The first time, it creates the role
/// (NOLOGIN NOINHERIT) and makes it the only one, besides the owner, that may connect to
/// `database`. Run on a connection to that database, by its owner. Granting a membership
/// that exists changes nothing.
pub async fn admit_to_schema_login(
    conn: &mut PoolConnection<Postgres>,
    login_role: &str,
    database: &str,
    groups: &[String],
) -> Result<(), sqlx::Error> {
    // Concurrent statements on one catalog row (the database's ACL, the login role's
    // memberships) fail with "tuple concurrently updated": one at a time, briefly.
    transaction(conn, async |tx| {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('tenantry:router-role'))")
            .execute(&mut *tx)
            .await?;
        let mut statements = Vec::new();
        if !role_exists(&mut *tx, login_role).await? {
            statements.push(format!(
                "CREATE ROLE {} NOLOGIN NOINHERIT",
                quote_ident(login_role)
            ));
            statements.push(format!(
                "REVOKE ALL ON DATABASE {} FROM PUBLIC",
                quote_ident(database)
            ));
            statements.push(format!(
                "GRANT CONNECT ON DATABASE {} TO {}",
                quote_ident(database),
                quote_ident(login_role)
            ));
        }
        for group in groups {
            statements.push(format!(
                "GRANT {} TO {}",
                quote_ident(group),
                quote_ident(login_role)
            ));
        }
        for sql in statements {
            sqlx::query(AssertSqlSafe(sql)).execute(&mut *tx).await?;
        }
        Ok(())
    })
    .await
}

/// Drops a group role after revoking what it holds in the connected database.
pub async fn drop_group_role(
    conn: &mut sqlx::PgConnection,
    role: &str,
) -> Result<bool, sqlx::Error> {
    let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_roles WHERE rolname = $1")
        .bind(role)
        .fetch_optional(&mut *conn)
        .await?;
    if found.is_none() {
        return Ok(false);
    }
    let owned = format!("DROP OWNED BY {}", quote_ident(role));
    sqlx::query(AssertSqlSafe(owned))
        .execute(&mut *conn)
        .await?;
    let drop = format!("DROP ROLE IF EXISTS {}", quote_ident(role));
    sqlx::query(AssertSqlSafe(drop)).execute(&mut *conn).await?;
    Ok(true)
}

/// Makes `role` own the database and takes away everyone else's right to connect.
pub async fn hand_database_to(
    admin: &PgPool,
    database: &str,
    role: &str,
) -> Result<(), sqlx::Error> {
    for sql in [
        format!(
            "ALTER DATABASE {} OWNER TO {}",
            quote_ident(database),
            quote_ident(role)
        ),
        format!(
            "REVOKE ALL ON DATABASE {} FROM PUBLIC",
            quote_ident(database)
        ),
    ] {
        sqlx::query(AssertSqlSafe(sql)).execute(admin).await?;
    }
    Ok(())
}

/// Hands the objects a template copy inherited from [`TEMPLATE_OWNER`] to `role`
/// (run on a connection to the copy).
pub async fn adopt_template_objects(
    conn: &mut sqlx::PgConnection,
    role: &str,
) -> Result<(), sqlx::Error> {
    let sql = format!(
        "REASSIGN OWNED BY {} TO {}",
        quote_ident(TEMPLATE_OWNER),
        quote_ident(role)
    );
    sqlx::query(AssertSqlSafe(sql))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Lets [`TEMPLATE_OWNER`] create the template's objects, and nobody else connect to it
/// (run on a connection to the template).
pub async fn prepare_template(
    conn: &mut sqlx::PgConnection,
    template: &str,
) -> Result<(), sqlx::Error> {
    for sql in [
        format!(
            "GRANT ALL ON SCHEMA public TO {}",
            quote_ident(TEMPLATE_OWNER)
        ),
        format!(
            "REVOKE ALL ON DATABASE {} FROM PUBLIC",
            quote_ident(template)
        ),
    ] {
        sqlx::query(AssertSqlSafe(sql)).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Session setting that makes a connection act as `role` from its start.
pub fn acting_as(options: PgConnectOptions, role: &str) -> PgConnectOptions {
    options.options([("role", role)])
}

/// `SET LOCAL ROLE` inside a transaction.
pub async fn set_local_role(conn: &mut sqlx::PgConnection, role: &str) -> Result<(), sqlx::Error> {
    let sql = format!("SET LOCAL ROLE {}", quote_ident(role));
    sqlx::query(AssertSqlSafe(sql))
        .execute(conn)
        .await
        .map(|_| ())
}
