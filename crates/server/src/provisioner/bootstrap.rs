//! `tenantry provision-bootstrap`: sets up, once and idempotently, everything the server
//! needs so that it never holds a superuser credential or a long-lived tenant password.
//!
//! On each instance (with a superuser URL given once): the role `tenantry_provisioner`
//! (LOGIN CREATEDB CREATEROLE, plus `pg_signal_backend`), its password in OpenBAO KV, and
//! a database-engine connection that uses it. In OpenBAO: the database and KV mounts, the
//! policy `tenantry-provisioner` with exactly the paths the server uses, and the AppRole
//! `tenantry-server` the server logs in with. A second run changes nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};

use crate::broker::openbao::client::{BaoAuth, BaoClient, BaoError};
use crate::broker::openbao::instance_secret_path;
use crate::config::{Config, VaultConfig};
use crate::names::{PROVISIONER_ROLE, schema_login_bao_role};
use crate::secret::Secret;
use crate::store::postgres;
use crate::store::sql::{quote_ident, quote_literal};

/// The OpenBAO policy granted to the server.
pub const POLICY: &str = "tenantry-provisioner";
/// The AppRole the server logs in with.
pub const APPROLE: &str = "tenantry-server";

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("the configuration has no vault section (vault.url is needed)")]
    NoVault,
    #[error("the configuration has no instances")]
    NoInstances,
    #[error("instance `{0}`: give its superuser URL with --superuser {0}=postgres://…")]
    MissingSuperuser(String),
    #[error("--superuser names `{0}`, which is not an instance in the configuration")]
    UnknownInstance(String),
    #[error("instance `{instance}`: {source}")]
    Database {
        instance: String,
        source: sqlx::Error,
    },
    #[error(transparent)]
    Bao(#[from] BaoError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot generate a password: {0}")]
    Random(String),
}

/// What one step found or did.
#[derive(Debug, Clone)]
pub struct BootstrapStep {
    pub what: String,
    pub changed: bool,
}

/// The server's AppRole login, as written to the credentials file.
#[derive(Debug, Clone)]
pub struct AppRoleLogin {
    pub role_id: String,
    pub secret_id: Secret,
}

pub struct Bootstrap<'a> {
    pub config: &'a Config,
    pub bao_token: Secret,
    /// Superuser URL per instance name.
    pub superusers: BTreeMap<String, Secret>,
    /// Where the AppRole's role_id and secret_id are written (mode 0600), once.
    pub approle_file: PathBuf,
}

impl Bootstrap<'_> {
    pub async fn run(&self) -> Result<(Vec<BootstrapStep>, AppRoleLogin), BootstrapError> {
        let vault = self.config.vault.as_ref().ok_or(BootstrapError::NoVault)?;
        if self.config.instances.is_empty() {
            return Err(BootstrapError::NoInstances);
        }
        if let Some(unknown) = self
            .superusers
            .keys()
            .find(|name| !self.config.instances.contains_key(*name))
        {
            return Err(BootstrapError::UnknownInstance(unknown.clone()));
        }
        let bao = BaoClient::new(
            &vault.url,
            BaoAuth::Token(self.bao_token.clone()),
            vault.ca_file.as_deref(),
        )?;
        bao.lookup_self().await?;
        let mut steps = Vec::new();
        let mut step = |what: String, changed: bool| steps.push(BootstrapStep { what, changed });

        let changed = bao
            .enable_secrets(&vault.mount, "database", json!({}))
            .await?;
        step(
            format!("database secrets engine at {}/", vault.mount),
            changed,
        );
        let changed = bao
            .enable_secrets(&vault.kv_mount, "kv", json!({ "version": "2" }))
            .await?;
        step(format!("KV v2 engine at {}/", vault.kv_mount), changed);

        for (name, instance) in &self.config.instances {
            let superuser = self
                .superusers
                .get(name)
                .ok_or_else(|| BootstrapError::MissingSuperuser(name.clone()))?;
            let db = |source| BootstrapError::Database {
                instance: name.clone(),
                source,
            };
            let (password, stored) = self.provisioner_password(&bao, vault, name).await?;
            let mut conn = PgConnection::connect(superuser.expose())
                .await
                .map_err(db)?;
            let role_changed = ensure_provisioner(&mut conn, &password).await.map_err(db);
            conn.close().await.map_err(db)?;
            step(
                format!("instance {name}: role {PROVISIONER_ROLE}"),
                role_changed?,
            );
            if !stored {
                bao.kv_write(
                    &vault.kv_mount,
                    &instance_secret_path(name),
                    &json!({ "username": PROVISIONER_ROLE, "password": password.expose() }),
                )
                .await?;
            }
            step(
                format!(
                    "instance {name}: provisioner password in {}/{}",
                    vault.kv_mount,
                    instance_secret_path(name)
                ),
                !stored,
            );
            let url = connection_url(instance.url.expose()).map_err(db)?;
            let changed = self
                .connection(&bao, vault, name, &url, &password, !stored)
                .await?;
            step(
                format!("instance {name}: connection {}/config/{name}", vault.mount),
                changed,
            );
        }

        let policy = policy(vault);
        let changed = bao.policy_read(POLICY).await?.as_deref() != Some(policy.as_str());
        if changed {
            bao.policy_write(POLICY, &policy).await?;
        }
        step(format!("policy {POLICY}"), changed);

        let changed = bao.enable_auth("approle", "approle").await?;
        step("AppRole auth method".into(), changed);
        let role_path = format!("auth/approle/role/{APPROLE}");
        let wanted = json!({
            "token_policies": [POLICY],
            "token_ttl": 3600,
            "token_max_ttl": 86400,
            "secret_id_ttl": 0,
            "secret_id_num_uses": 0,
        });
        let current = bao.read(&role_path).await?;
        let changed = !current.as_ref().is_some_and(|c| {
            c.get("token_policies") == wanted.get("token_policies")
                && c.get("token_ttl") == wanted.get("token_ttl")
                && c.get("token_max_ttl") == wanted.get("token_max_ttl")
        });
        if changed {
            bao.write(&role_path, &wanted).await?;
        }
        step(format!("AppRole {APPROLE}"), changed);
        let role_id = bao
            .read(&format!("{role_path}/role-id"))
            .await?
            .and_then(|d| d.get("role_id").and_then(Value::as_str).map(str::to_owned))
            .ok_or_else(|| BaoError::Unexpected {
                path: format!("{role_path}/role-id"),
                message: "no role_id".into(),
            })?;
        let (login, changed) = self.approle_login(&bao, &role_path, role_id).await?;
        step(
            format!("AppRole login in {}", self.approle_file.display()),
            changed,
        );
        Ok((steps, login))
    }

    /// The provisioner's password: the one in KV, or a new one. `true` when it was stored.
    async fn provisioner_password(
        &self,
        bao: &BaoClient,
        vault: &VaultConfig,
        instance: &str,
    ) -> Result<(Secret, bool), BootstrapError> {
        let stored = bao
            .kv_read(&vault.kv_mount, &instance_secret_path(instance))
            .await?
            .and_then(|d| d.get("password").and_then(Value::as_str).map(Secret::new));
        match stored {
            Some(password) => Ok((password, true)),
            None => {
                let mut bytes = [0u8; 24];
                getrandom::fill(&mut bytes).map_err(|e| BootstrapError::Random(e.to_string()))?;
                Ok((Secret::new(hex::encode(bytes)), false))
            }
        }
    }

    /// The database engine's connection to an instance, as the provisioner.
    async fn connection(
        &self,
        bao: &BaoClient,
        vault: &VaultConfig,
        instance: &str,
        url: &str,
        password: &Secret,
        password_changed: bool,
    ) -> Result<bool, BootstrapError> {
        let path = format!("{}/config/{instance}", vault.mount);
        // Database tenants' roles, and this instance's router role for its schema tenants.
        let allowed = json!(["tenant-*", schema_login_bao_role(instance)]);
        let current = bao.read(&path).await?;
        let same = current.as_ref().is_some_and(|c| {
            let details = c.get("connection_details");
            details.and_then(|d| d.get("connection_url")) == Some(&json!(url))
                && details.and_then(|d| d.get("username")) == Some(&json!(PROVISIONER_ROLE))
                && c.get("allowed_roles") == Some(&allowed)
        });
        if same && !password_changed {
            return Ok(false);
        }
        bao.write(
            &path,
            &json!({
                "plugin_name": "postgresql-database-plugin",
                "connection_url": url,
                "username": PROVISIONER_ROLE,
                "password": password.expose(),
                "allowed_roles": allowed,
                "verify_connection": true,
            }),
        )
        .await?;
        Ok(true)
    }

    /// Issues a secret_id once and keeps it in the credentials file; a later run that
    /// finds the file for the same role reuses it.
    async fn approle_login(
        &self,
        bao: &BaoClient,
        role_path: &str,
        role_id: String,
    ) -> Result<(AppRoleLogin, bool), BootstrapError> {
        if let Some(existing) = read_login(&self.approle_file)?
            && existing.role_id == role_id
        {
            return Ok((existing, false));
        }
        let secret_id = bao
            .write(&format!("{role_path}/secret-id"), &json!({}))
            .await?
            .and_then(|d| d.get("secret_id").and_then(Value::as_str).map(Secret::new))
            .ok_or_else(|| BaoError::Unexpected {
                path: format!("{role_path}/secret-id"),
                message: "no secret_id".into(),
            })?;
        let login = AppRoleLogin { role_id, secret_id };
        write_login(&self.approle_file, &login)?;
        Ok((login, true))
    }
}

/// Creates or corrects the provisioner role. Returns whether anything changed.
async fn ensure_provisioner(
    conn: &mut PgConnection,
    password: &Secret,
) -> Result<bool, sqlx::Error> {
    let role = quote_ident(PROVISIONER_ROLE);
    // The password is generated here (hex), never user input; CREATE ROLE takes no binds.
    let secret = quote_literal(password.expose());
    let row: Option<(bool, bool, bool, bool)> = sqlx::query_as(
        "SELECT rolcanlogin, rolcreatedb, rolcreaterole, rolsuper FROM pg_roles WHERE rolname = $1",
    )
    .bind(PROVISIONER_ROLE)
    .fetch_optional(&mut *conn)
    .await?;
    let mut changed = false;
    match row {
        None => {
            let sql = format!(
                "CREATE ROLE {role} LOGIN CREATEDB CREATEROLE NOSUPERUSER PASSWORD {secret}"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut *conn)
                .await?;
            changed = true;
        }
        Some(attrs) => {
            if attrs != (true, true, true, false) {
                let sql = format!("ALTER ROLE {role} LOGIN CREATEDB CREATEROLE NOSUPERUSER");
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut *conn)
                    .await?;
                changed = true;
            }
            if !password_works(conn, password).await? {
                let sql = format!("ALTER ROLE {role} PASSWORD {secret}");
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut *conn)
                    .await?;
                changed = true;
            }
        }
    }
    let member: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid \
         JOIN pg_roles r ON r.oid = m.member WHERE g.rolname = 'pg_signal_backend' AND r.rolname = $1",
    )
    .bind(PROVISIONER_ROLE)
    .fetch_optional(&mut *conn)
    .await?;
    if member.is_none() {
        // Ending a purged tenant's sessions (DROP DATABASE … WITH (FORCE)) needs it.
        let sql = format!("GRANT pg_signal_backend TO {role}");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut *conn)
            .await?;
        changed = true;
    }
    Ok(changed)
}

/// Whether the stored password still opens the provisioner's login (checked by logging in
/// over the same server as `conn`).
async fn password_works(conn: &mut PgConnection, password: &Secret) -> Result<bool, sqlx::Error> {
    let (host, port): (Option<String>, Option<i32>) =
        sqlx::query_as("SELECT host(inet_server_addr()), inet_server_port()")
            .fetch_one(&mut *conn)
            .await?;
    let (Some(host), Some(port)) = (host, port) else {
        // A Unix-socket session cannot tell us where to log in: set the password anew.
        return Ok(false);
    };
    let options = sqlx::postgres::PgConnectOptions::new()
        .host(&host)
        .port(u16::try_from(port).unwrap_or(5432))
        .username(PROVISIONER_ROLE)
        .password(password.expose())
        .database("postgres");
    match PgConnection::connect_with(&options).await {
        Ok(c) => {
            c.close().await?;
            Ok(true)
        }
        Err(e) if postgres::is_auth_failure(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// OpenBAO's connection URL for an instance, with its own placeholders for the login.
fn connection_url(instance_url: &str) -> Result<String, sqlx::Error> {
    let options = postgres::options(instance_url)?;
    Ok(format!(
        "postgresql://{{{{username}}}}:{{{{password}}}}@{}:{}/{}?sslmode=prefer",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("postgres")
    ))
}

/// Exactly the paths the server uses, for its own mounts.
pub fn policy(vault: &VaultConfig) -> String {
    let (db, kv) = (&vault.mount, &vault.kv_mount);
    format!(
        r#"# Written by tenantry provision-bootstrap. The server's paths, and nothing more.
path "{db}/roles/tenant-*" {{
  capabilities = ["create", "read", "update", "delete"]
}}
path "{db}/creds/tenant-*" {{
  capabilities = ["read"]
}}
path "{db}/roles/router-*" {{
  capabilities = ["create", "read", "update"]
}}
path "{db}/creds/router-*" {{
  capabilities = ["read"]
}}
path "sys/leases/renew" {{
  capabilities = ["update"]
}}
path "sys/leases/revoke" {{
  capabilities = ["update"]
}}
path "sys/leases/revoke-prefix/{db}/creds/tenant-*" {{
  capabilities = ["update", "sudo"]
}}
path "sys/leases/lookup/{db}/creds/tenant-*" {{
  capabilities = ["list", "sudo"]
}}
path "{kv}/data/tenantry/instances/*" {{
  capabilities = ["read"]
}}
path "auth/token/renew-self" {{
  capabilities = ["update"]
}}
path "auth/token/lookup-self" {{
  capabilities = ["read"]
}}
"#
    )
}

fn read_login(path: &Path) -> Result<Option<AppRoleLogin>, BootstrapError> {
    let io = |source| BootstrapError::Io {
        path: path.display().to_string(),
        source,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    let value: Value = serde_json::from_str(&text)
        .map_err(|e| io(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
    let field = |name: &str| value.get(name).and_then(Value::as_str).map(str::to_owned);
    Ok(match (field("role_id"), field("secret_id")) {
        (Some(role_id), Some(secret_id)) => Some(AppRoleLogin {
            role_id,
            secret_id: Secret::new(secret_id),
        }),
        _ => None,
    })
}

fn write_login(path: &Path, login: &AppRoleLogin) -> Result<(), BootstrapError> {
    let io = |source| BootstrapError::Io {
        path: path.display().to_string(),
        source,
    };
    // A file for another role (OpenBAO was reset) is replaced.
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let body = json!({ "role_id": login.role_id, "secret_id": login.secret_id.expose() });
    crate::secret::write_private(path, &body.to_string()).map_err(io)
}
