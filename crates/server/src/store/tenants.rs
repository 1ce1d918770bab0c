//! Tenant storage: creating, opening and destroying one tenant's database, per isolation
//! mode — a SQLite file copied from a template (embedded), a PostgreSQL database copied from
//! `tenantry_template` (database mode), or a schema in `tenantry_pool` (schema mode).

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use sqlx::Connection;
use sqlx::postgres::PgConnectOptions;
use tenantry_proto::Isolation;

use super::cancel::{Unsettled, transaction};
use super::instances::Instance;
use super::sql::quote_ident;
use super::{Db, PoolSettings, TenantDb, postgres, sqlite};
use crate::broker::{BrokerError, CredentialBroker, Credentials};
use crate::migrator::{self, Chain, Chains, MigrateFailure};
use crate::names::{DataLayout, POOL_DATABASE, ROUTER_ROLE, TEMPLATE_DATABASE, TEMPLATE_OWNER};
use crate::routing::TenantLocation;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("isolation mode `{0}` is not available on this backend")]
    Unsupported(Isolation),
    #[error("the tenant's storage does not exist")]
    Missing,
    #[error("instance `{0}` is not configured")]
    UnknownInstance(String),
    #[error("instance `{instance}` is unavailable: {source}")]
    InstanceUnavailable {
        instance: String,
        source: sqlx::Error,
    },
    #[error("storage I/O failed: {0}")]
    Io(#[from] io::Error),
    #[error("tenant database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error("migrating the template failed: {0}")]
    Template(#[from] MigrateFailure),
}

/// Creates, opens and destroys tenant databases.
#[derive(Debug)]
pub struct TenantStorage {
    layout: DataLayout,
    /// Collapsed mode keeps the built-in tenant's tables in the registry database.
    registry: Db,
    settings: PoolSettings,
    broker: CredentialBroker,
    instances: BTreeMap<String, Instance>,
    /// Copies read the file template; migrations write it. They never overlap.
    file_template: tokio::sync::Mutex<()>,
    /// Templates this process has seen at the latest tenant chain (instance names, or
    /// [`FILE_TEMPLATE`]): copies of them need no migration check.
    current_templates: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// The key of the embedded file template in `current_templates`.
const FILE_TEMPLATE: &str = "";

impl TenantStorage {
    pub fn new(
        layout: DataLayout,
        registry: Db,
        settings: PoolSettings,
        broker: CredentialBroker,
        instances: BTreeMap<String, Instance>,
    ) -> Self {
        TenantStorage {
            layout,
            registry,
            settings,
            broker,
            instances,
            file_template: tokio::sync::Mutex::new(()),
            current_templates: std::sync::Mutex::new(std::collections::HashSet::new()),
        }
    }

    pub fn broker(&self) -> &CredentialBroker {
        &self.broker
    }

    pub fn instances(&self) -> impl Iterator<Item = &Instance> {
        self.instances.values()
    }

    pub fn instance(&self, name: &str) -> Result<&Instance, StoreError> {
        self.instances
            .get(name)
            .ok_or_else(|| StoreError::UnknownInstance(name.to_owned()))
    }

    fn unavailable(instance: &Instance) -> impl Fn(sqlx::Error) -> StoreError + '_ {
        move |source| {
            if super::is_unreachable(&source) {
                StoreError::InstanceUnavailable {
                    instance: instance.name.clone(),
                    source,
                }
            } else {
                StoreError::Db(source)
            }
        }
    }

    /// The database a tenant's connections go to on its instance.
    fn tenant_database(loc: &TenantLocation) -> String {
        match loc.isolation {
            Isolation::Schema => POOL_DATABASE.to_owned(),
            _ => loc.slug.physical_name(),
        }
    }

    /// Opens a pool on the tenant's storage. A collapsed tenant gets the registry pool
    /// itself: release it with [`Self::release`], never by closing it.
    pub async fn open(
        &self,
        loc: &TenantLocation,
        settings: Option<PoolSettings>,
    ) -> Result<TenantDb, StoreError> {
        let settings = settings.unwrap_or(self.settings);
        match loc.isolation {
            Isolation::Collapsed => Ok(TenantDb::whole(self.registry.clone())),
            Isolation::File => {
                let path = self.layout.tenant_db(&loc.slug);
                if !path.is_file() {
                    return Err(StoreError::Missing);
                }
                // Files need no credentials, but the broker is still the one that says so.
                let _credentials = self.broker.credentials(loc).await?;
                Ok(TenantDb::whole(sqlite::open(&path, settings, false).await?))
            }
            Isolation::Schema => {
                let pool = self.open_schema_pool(&loc.instance, settings).await?;
                Ok(self.schema_db(pool, loc))
            }
            Isolation::Database => Ok(TenantDb::whole(self.open_own_pool(loc, settings).await?)),
        }
    }

    /// A pool of the tenant's own logins.
    async fn open_own_pool(
        &self,
        loc: &TenantLocation,
        settings: PoolSettings,
    ) -> Result<Db, StoreError> {
        let instance = self.instance(&loc.instance)?;
        self.open_leased(instance, Login::Tenant(loc), settings)
            .await
    }

    /// Points an open pool of the tenant's at its current credentials (after the broker
    /// replaced them). New connections use them; old ones age out.
    pub async fn refresh_credentials(
        &self,
        loc: &TenantLocation,
        db: &TenantDb,
    ) -> Result<(), StoreError> {
        if let Db::Postgres(pool) = db.db() {
            let instance = self.instance(&loc.instance)?;
            self.refresh(instance, Login::Tenant(loc), pool).await?;
        }
        Ok(())
    }

    /// A pool on an instance's schema-mode database, shared by its schema tenants: with
    /// the instance's credentials, or the broker's router login (decision 0008).
    pub async fn open_schema_pool(
        &self,
        instance: &str,
        settings: PoolSettings,
    ) -> Result<sqlx::PgPool, StoreError> {
        let instance = self.instance(instance)?;
        match self.open_leased(instance, Login::Router, settings).await? {
            Db::Postgres(pool) => Ok(pool),
            Db::Sqlite(_) => Err(StoreError::Unsupported(Isolation::Schema)),
        }
    }

    /// As [`Self::refresh_credentials`], for an instance's schema pool.
    pub async fn refresh_router_credentials(
        &self,
        instance: &str,
        pool: &sqlx::PgPool,
    ) -> Result<(), StoreError> {
        let instance = self.instance(instance)?;
        self.refresh(instance, Login::Router, pool).await
    }

    /// Opens a pool with the broker's credentials for `login`. A refused login (a revoked
    /// or expired lease) is leased anew once.
    async fn open_leased(
        &self,
        instance: &Instance,
        login: Login<'_>,
        settings: PoolSettings,
    ) -> Result<Db, StoreError> {
        let settings = PoolSettings {
            max_lifetime: self.broker.connection_lifetime().or(settings.max_lifetime),
            ..settings
        };
        let mut retried = false;
        loop {
            let options = self.login_options(instance, login).await?;
            match postgres::open(options, settings).await {
                Ok(db) => return Ok(db),
                Err(e) if postgres::is_missing_database(&e) => return Err(StoreError::Missing),
                Err(e) if postgres::is_auth_failure(&e) && !retried => {
                    match login {
                        Login::Tenant(loc) => self.broker.invalidate(loc),
                        Login::Router => self.broker.invalidate_router(&instance.name),
                    }
                    retried = true;
                }
                Err(e) => return Err(Self::unavailable(instance)(e)),
            }
        }
    }

    /// Gives new connections of `pool` the broker's current credentials for `login`
    /// (nothing to do with static credentials).
    async fn refresh(
        &self,
        instance: &Instance,
        login: Login<'_>,
        pool: &sqlx::PgPool,
    ) -> Result<(), StoreError> {
        if self.broker.per_tenant_roles() {
            pool.set_connect_options(self.login_options(instance, login).await?);
        }
        Ok(())
    }

    /// Where `login` connects, with the broker's credentials for it.
    async fn login_options(
        &self,
        instance: &Instance,
        login: Login<'_>,
    ) -> Result<PgConnectOptions, StoreError> {
        let (database, credentials) = match login {
            Login::Tenant(loc) => (
                Self::tenant_database(loc),
                self.broker.credentials(loc).await?,
            ),
            Login::Router => (
                POOL_DATABASE.to_owned(),
                self.broker.router_credentials(&instance.name).await?,
            ),
        };
        Ok(with_credentials(instance.database(&database), &credentials))
    }

    /// A schema tenant's handle on a pool of its instance's schema database.
    pub fn schema_db(&self, pool: sqlx::PgPool, loc: &TenantLocation) -> TenantDb {
        let role = self
            .broker
            .per_tenant_roles()
            .then(|| loc.slug.group_role());
        TenantDb::schema(pool, &loc.slug.physical_name(), role.as_deref())
    }

    /// Closes a handle from [`Self::open`] unless it is the shared registry pool.
    pub async fn release(&self, loc: &TenantLocation, db: TenantDb) {
        if loc.isolation != Isolation::Collapsed {
            db.db().close().await;
        }
    }

    /// Creates the tenant's storage at the latest tenant chain. Idempotent: storage left by
    /// an interrupted attempt is complete (file rename, CREATE DATABASE and the schema
    /// transaction are all atomic) and is kept.
    ///
    /// Returns the tenant chain version when it is known to be current without looking:
    /// copied from a template this process brought up to date, or just migrated.
    pub async fn create(
        &self,
        loc: &TenantLocation,
        chains: &Chains,
    ) -> Result<Option<i64>, StoreError> {
        let latest = chains.latest(Chain::Tenant);
        match loc.isolation {
            Isolation::Collapsed => Ok(None),
            Isolation::File => {
                let fresh = self.create_file(loc).await?;
                Ok((fresh && self.is_template_current(FILE_TEMPLATE)).then_some(latest))
            }
            Isolation::Database => {
                let instance = self.instance(&loc.instance)?;
                let name = loc.slug.physical_name();
                let admin = instance.admin();
                let group = self.group_role(loc, instance).await?;
                let fresh = if postgres::database_exists(admin, &name)
                    .await
                    .map_err(Self::unavailable(instance))?
                {
                    false
                } else {
                    if !self.is_template_current(&instance.name) {
                        self.migrate_template(instance, chains, false).await?;
                    }
                    postgres::create_database_from_template(admin, &name, TEMPLATE_DATABASE)
                        .await
                        .map_err(Self::unavailable(instance))?
                };
                if let Some(group) = &group {
                    self.hand_over_database(instance, &name, group).await?;
                }
                Ok((fresh && self.is_template_current(&instance.name)).then_some(latest))
            }
            Isolation::Schema => {
                let instance = self.instance(&loc.instance)?;
                let group = self.group_role(loc, instance).await?;
                postgres::create_database(instance.admin(), POOL_DATABASE, None)
                    .await
                    .map_err(Self::unavailable(instance))?;
                let schema = quote_ident(&loc.slug.physical_name());
                let mut conn = instance
                    .pool_admin()
                    .acquire()
                    .await
                    .map_err(Self::unavailable(instance))?;
                if let Some(group) = &group {
                    // Only the router's logins connect here, and act as this tenant only
                    // after `SET ROLE`.
                    postgres::admit_to_router(
                        &mut conn,
                        ROUTER_ROLE,
                        POOL_DATABASE,
                        std::slice::from_ref(group),
                    )
                    .await?;
                }
                // Schema, tables and version table appear together or not at all.
                transaction(&mut conn, async |tx| {
                    let mut create = format!("CREATE SCHEMA IF NOT EXISTS {schema}");
                    if let Some(group) = &group {
                        create.push_str(&format!(" AUTHORIZATION {}", quote_ident(group)));
                    }
                    sqlx::query(sqlx::AssertSqlSafe(create))
                        .execute(&mut *tx)
                        .await?;
                    if let Some(group) = &group {
                        let owner =
                            format!("ALTER SCHEMA {schema} OWNER TO {}", quote_ident(group));
                        sqlx::query(sqlx::AssertSqlSafe(owner))
                            .execute(&mut *tx)
                            .await?;
                        // The tables belong to the group role, like the schema.
                        postgres::set_local_role(tx, group).await?;
                    }
                    let path = format!("SET LOCAL search_path TO {schema}");
                    sqlx::query(sqlx::AssertSqlSafe(path))
                        .execute(&mut *tx)
                        .await?;
                    chains
                        .in_schema(Chain::Tenant, &schema)
                        .run_direct(None, &mut *tx, false)
                        .await
                        .map_err(MigrateFailure::from)?;
                    Ok::<_, StoreError>(())
                })
                .await?;
                Ok(Some(latest))
            }
        }
    }

    /// The tenant's group role, created if missing — when tenants have their own logins.
    async fn group_role(
        &self,
        loc: &TenantLocation,
        instance: &Instance,
    ) -> Result<Option<String>, StoreError> {
        if !self.broker.per_tenant_roles() {
            return Ok(None);
        }
        let group = loc.slug.group_role();
        postgres::ensure_group_role(instance.admin(), &group)
            .await
            .map_err(Self::unavailable(instance))?;
        Ok(Some(group))
    }

    /// Gives a tenant database (fresh from the template, or left by an earlier attempt) to
    /// the tenant's group role. Idempotent.
    async fn hand_over_database(
        &self,
        instance: &Instance,
        database: &str,
        group: &str,
    ) -> Result<(), StoreError> {
        postgres::hand_database_to(instance.admin(), database, group)
            .await
            .map_err(Self::unavailable(instance))?;
        let mut conn = sqlx::PgConnection::connect_with(&instance.admin_options(database))
            .await
            .map_err(Self::unavailable(instance))?;
        let adopted = postgres::adopt_template_objects(&mut conn, group).await;
        conn.close().await?;
        Ok(adopted?)
    }

    /// Lets the instance's router act as these schema tenants where it cannot yet (tenants
    /// created before decision 0008). Returns the tenants it admitted.
    pub async fn admit_to_router<'a>(
        &self,
        instance: &str,
        tenants: impl IntoIterator<Item = &'a TenantLocation>,
    ) -> Result<Vec<&'a TenantLocation>, StoreError> {
        if !self.broker.per_tenant_roles() {
            return Ok(Vec::new());
        }
        let instance = self.instance(instance)?;
        let Some(mut conn) = self.pool_admin(instance).await? else {
            return Ok(Vec::new());
        };
        let admitted: std::collections::HashSet<String> = sqlx::query_scalar(
            "SELECT r.rolname::text FROM pg_auth_members m \
             JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member \
             WHERE u.rolname = $1",
        )
        .bind(ROUTER_ROLE)
        .fetch_all(&mut *conn)
        .await
        .map_err(Self::unavailable(instance))?
        .into_iter()
        .collect();
        let missing: Vec<&TenantLocation> = tenants
            .into_iter()
            .filter(|loc| {
                loc.isolation == Isolation::Schema && !admitted.contains(&loc.slug.group_role())
            })
            .collect();
        if !missing.is_empty() {
            let groups: Vec<String> = missing.iter().map(|l| l.slug.group_role()).collect();
            postgres::admit_to_router(&mut conn, ROUTER_ROLE, POOL_DATABASE, &groups)
                .await
                .map_err(Self::unavailable(instance))?;
        }
        Ok(missing)
    }

    /// Whether the tenant's group role is still on its instance.
    pub async fn group_role_exists(&self, loc: &TenantLocation) -> Result<bool, StoreError> {
        if !self.broker.per_tenant_roles()
            || !matches!(loc.isolation, Isolation::Database | Isolation::Schema)
        {
            return Ok(false);
        }
        let instance = self.instance(&loc.instance)?;
        postgres::role_exists(instance.admin(), &loc.slug.group_role())
            .await
            .map_err(Self::unavailable(instance))
    }

    /// Drops the tenant's group role (after its storage), with whatever it still holds.
    async fn drop_group_role(
        &self,
        loc: &TenantLocation,
        instance: &Instance,
    ) -> Result<(), StoreError> {
        if !self.broker.per_tenant_roles() {
            return Ok(());
        }
        let group = loc.slug.group_role();
        // In schema mode it holds CONNECT on the pool database: revoke it there.
        let conn = match loc.isolation {
            Isolation::Schema => self.pool_admin(instance).await?,
            _ => None,
        };
        let mut conn = match conn {
            Some(conn) => conn,
            None => instance
                .admin()
                .acquire()
                .await
                .map_err(Self::unavailable(instance))?,
        };
        postgres::drop_group_role(&mut conn, &group).await?;
        Ok(())
    }

    /// An administrative connection to the instance's schema-mode database; `None` when
    /// that database does not exist (so no schema tenant can either).
    async fn pool_admin(
        &self,
        instance: &Instance,
    ) -> Result<Option<sqlx::pool::PoolConnection<sqlx::Postgres>>, StoreError> {
        match instance.pool_admin().acquire().await {
            Ok(conn) => Ok(Some(conn)),
            Err(e) if postgres::is_missing_database(&e) => Ok(None),
            Err(e) => Err(Self::unavailable(instance)(e)),
        }
    }

    fn is_template_current(&self, which: &str) -> bool {
        self.current_templates
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(which)
    }

    fn mark_template(&self, which: &str, state: &migrator::ChainState) {
        let mut set = self
            .current_templates
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if state.is_current() {
            set.insert(which.to_owned());
        } else {
            set.remove(which);
        }
    }

    /// Returns whether a new file was made (rather than one found from an earlier attempt).
    async fn create_file(&self, loc: &TenantLocation) -> Result<bool, StoreError> {
        let target = self.layout.tenant_db(&loc.slug);
        if target.is_file() {
            return Ok(false);
        }
        tokio::fs::create_dir_all(self.layout.tenants_dir()).await?;
        let staging = self.layout.tenant_db_staging(&loc.slug);
        remove_if_exists(&staging).await?;
        {
            let _read = self.file_template.lock().await;
            let template = self.open_file_template_unlocked().await?;
            let copied = sqlite::copy_to(&template, &staging).await;
            template.close().await;
            copied?;
        }
        tokio::fs::rename(&staging, &target).await?;
        Ok(true)
    }

    /// Removes the tenant's storage, ending its sessions first. Returns whether anything
    /// was there.
    pub async fn destroy(&self, loc: &TenantLocation) -> Result<bool, StoreError> {
        match loc.isolation {
            Isolation::Collapsed => Err(StoreError::Unsupported(Isolation::Collapsed)),
            Isolation::File => {
                let main = self.layout.tenant_db(&loc.slug);
                let mut removed = false;
                for path in [
                    main.clone(),
                    with_suffix(&main, "-wal"),
                    with_suffix(&main, "-shm"),
                    self.layout.tenant_db_staging(&loc.slug),
                ] {
                    removed |= remove_if_exists(&path).await?;
                }
                Ok(removed)
            }
            Isolation::Database => {
                let instance = self.instance(&loc.instance)?;
                let dropped = postgres::drop_database(instance.admin(), &loc.slug.physical_name())
                    .await
                    .map_err(Self::unavailable(instance))?;
                self.drop_group_role(loc, instance).await?;
                Ok(dropped)
            }
            Isolation::Schema => {
                let instance = self.instance(&loc.instance)?;
                let dropped = match self.pool_admin(instance).await? {
                    Some(mut conn) => {
                        postgres::drop_schema(&mut conn, &loc.slug.physical_name()).await?
                    }
                    None => false,
                };
                self.drop_group_role(loc, instance).await?;
                Ok(dropped)
            }
        }
    }

    /// Whether any trace of the tenant's storage is left.
    pub async fn exists(&self, loc: &TenantLocation) -> Result<bool, StoreError> {
        match loc.isolation {
            Isolation::Collapsed => Ok(true),
            Isolation::File => {
                let main = self.layout.tenant_db(&loc.slug);
                Ok([
                    main.clone(),
                    with_suffix(&main, "-wal"),
                    with_suffix(&main, "-shm"),
                ]
                .iter()
                .any(|p| p.exists()))
            }
            Isolation::Database => {
                let instance = self.instance(&loc.instance)?;
                postgres::database_exists(instance.admin(), &loc.slug.physical_name())
                    .await
                    .map_err(Self::unavailable(instance))
            }
            Isolation::Schema => {
                let instance = self.instance(&loc.instance)?;
                let Some(mut conn) = self.pool_admin(instance).await? else {
                    return Ok(false);
                };
                Ok(postgres::schema_exists(&mut conn, &loc.slug.physical_name()).await?)
            }
        }
    }

    /// Brings the embedded file template to the latest tenant chain (or reports where it is).
    pub async fn migrate_file_template(
        &self,
        chains: &Chains,
        dry_run: bool,
    ) -> Result<(migrator::ChainState, migrator::ChainState), StoreError> {
        let _write = self.file_template.lock().await;
        let template = TenantDb::whole(self.open_file_template_unlocked().await?);
        let result = if dry_run {
            migrator::tenant_state(&template, chains)
                .await
                .map(|s| (s.clone(), s))
        } else {
            migrator::apply_tenant(&template, chains).await
        };
        template.db().close().await;
        Ok(result?)
    }

    /// Brings an instance's `tenantry_template` to the latest tenant chain, creating it if
    /// missing, with copies held off by the template lock.
    pub async fn migrate_template(
        &self,
        instance: &Instance,
        chains: &Chains,
        dry_run: bool,
    ) -> Result<(migrator::ChainState, migrator::ChainState), StoreError> {
        let admin = instance.admin();
        let exists = postgres::database_exists(admin, TEMPLATE_DATABASE)
            .await
            .map_err(Self::unavailable(instance))?;
        if !exists && dry_run {
            let latest = chains.latest(Chain::Tenant);
            let missing = migrator::ChainState {
                current: 0,
                latest,
                pending: chains
                    .get(Chain::Tenant)
                    .iter()
                    .map(|m| (m.version, m.description.to_string()))
                    .collect(),
            };
            return Ok((missing.clone(), missing));
        }
        postgres::create_database(admin, TEMPLATE_DATABASE, None)
            .await
            .map_err(Self::unavailable(instance))?;
        let mut pooled = admin.acquire().await.map_err(Self::unavailable(instance))?;
        // A session lock: the connection is never pooled again while it may hold it.
        let mut lock = Unsettled::new(&mut pooled);
        postgres::lock_template(&mut lock, TEMPLATE_DATABASE).await?;
        let result = async {
            let one = PoolSettings {
                max_connections: 1,
                ..self.settings
            };
            let mut options = instance.admin_options(TEMPLATE_DATABASE);
            if self.broker.per_tenant_roles() {
                // The template's objects belong to a role that copies hand to the tenant.
                postgres::ensure_group_role(admin, TEMPLATE_OWNER)
                    .await
                    .map_err(Self::unavailable(instance))?;
                let mut conn = sqlx::PgConnection::connect_with(&options)
                    .await
                    .map_err(Self::unavailable(instance))?;
                let prepared = postgres::prepare_template(&mut conn, TEMPLATE_DATABASE).await;
                conn.close().await?;
                prepared?;
                options = postgres::acting_as(options, TEMPLATE_OWNER);
            }
            let template = TenantDb::whole(
                postgres::open(options, one)
                    .await
                    .map_err(Self::unavailable(instance))?,
            );
            let result = if dry_run {
                migrator::tenant_state(&template, chains)
                    .await
                    .map(|s| (s.clone(), s))
            } else {
                migrator::apply_tenant(&template, chains).await
            };
            // The template must have no sessions left, or copying it fails.
            template.db().close().await;
            let (before, after) = result?;
            self.mark_template(&instance.name, &after);
            Ok::<_, StoreError>((before, after))
        }
        .await;
        postgres::unlock_template(&mut lock, TEMPLATE_DATABASE).await?;
        lock.settle();
        result
    }

    async fn open_file_template_unlocked(&self) -> Result<Db, StoreError> {
        tokio::fs::create_dir_all(self.layout.root()).await?;
        let one = PoolSettings {
            max_connections: 1,
            ..self.settings
        };
        Ok(sqlite::open(&self.layout.template_db(), one, true).await?)
    }
}

/// Whose credentials a pool connects with: a tenant's own login, or its instance's router
/// login (schema mode, decision 0008).
#[derive(Clone, Copy)]
enum Login<'a> {
    Tenant(&'a TenantLocation),
    Router,
}

/// Options with the broker's credentials, where it gives any.
fn with_credentials(mut options: PgConnectOptions, credentials: &Credentials) -> PgConnectOptions {
    if let Some(user) = &credentials.username {
        options = options.username(user);
    }
    if let Some(password) = &credentials.password {
        options = options.password(password.expose());
    }
    options
}

fn with_suffix(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    s.into()
}

async fn remove_if_exists(path: &Path) -> io::Result<bool> {
    match tokio::fs::remove_file(path).await {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}
