//! Logins on PostgreSQL instances: pools opened with the credential source's current
//! credentials, a refused login leased anew once, and open pools pointed at replaced
//! credentials without closing them.

use sqlx::postgres::PgConnectOptions;

use super::credentials::{Credentials, TenantRoles};
use super::instances::Instance;
use super::tenants::{StoreError, TenantStorage};
use super::{Db, PoolSettings, TenantDb, TenantLocation, postgres};
use crate::names::SCHEMAS_DATABASE;

/// Whose credentials a pool connects with: a tenant's own login, or its instance's schema
/// login (the shared schema pool, decision 0008).
#[derive(Clone, Copy)]
pub(super) enum Login<'a> {
    Tenant(&'a TenantLocation),
    SchemaLogin,
}

impl TenantStorage {
    /// A pool on an instance's schema-mode database, shared by its schema tenants: with
    /// the instance's credentials, or the source's schema login (decision 0008).
    pub async fn open_instance_pool(
        &self,
        instance: &str,
        settings: PoolSettings,
    ) -> Result<sqlx::PgPool, StoreError> {
        let instance = self.instance(instance)?;
        match self
            .open_leased(instance, Login::SchemaLogin, settings)
            .await?
        {
            Db::Postgres(pool) => Ok(pool),
            Db::Sqlite(_) => Err(StoreError::Missing),
        }
    }

    /// Points an open pool of the tenant's at its current credentials (after the source
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

    /// As [`Self::refresh_credentials`], for an instance's shared pool.
    pub async fn refresh_schema_login_credentials(
        &self,
        instance: &str,
        pool: &sqlx::PgPool,
    ) -> Result<(), StoreError> {
        let instance = self.instance(instance)?;
        self.refresh(instance, Login::SchemaLogin, pool).await
    }

    /// Opens a pool with the source's credentials for `login`. A refused login (a revoked
    /// or expired lease) is leased anew once.
    pub(super) async fn open_leased(
        &self,
        instance: &Instance,
        login: Login<'_>,
        settings: PoolSettings,
    ) -> Result<Db, StoreError> {
        let settings = PoolSettings {
            max_lifetime: self
                .source()
                .connection_lifetime()
                .or(settings.max_lifetime),
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
                        Login::Tenant(loc) => self.source().invalidate(loc),
                        Login::SchemaLogin => self.source().invalidate_schema_login(&instance.name),
                    }
                    retried = true;
                }
                Err(e) => return Err(Self::unavailable(instance)(e)),
            }
        }
    }

    /// Gives new connections of `pool` the source's current credentials for `login`
    /// (nothing to do when tenants share the instance's login, which never changes).
    async fn refresh(
        &self,
        instance: &Instance,
        login: Login<'_>,
        pool: &sqlx::PgPool,
    ) -> Result<(), StoreError> {
        if self.tenant_roles() == TenantRoles::Own {
            pool.set_connect_options(self.login_options(instance, login).await?);
        }
        Ok(())
    }

    /// Where `login` connects, with the source's credentials for it.
    async fn login_options(
        &self,
        instance: &Instance,
        login: Login<'_>,
    ) -> Result<PgConnectOptions, StoreError> {
        let (database, credentials) = match login {
            Login::Tenant(loc) => (loc.slug.physical_name(), self.credentials(loc).await?),
            Login::SchemaLogin => (
                SCHEMAS_DATABASE.to_owned(),
                self.source()
                    .schema_login_credentials(&instance.name)
                    .await?,
            ),
        };
        Ok(with_credentials(instance.database(&database), &credentials))
    }
}

/// Options with the source's credentials, where it gives any.
fn with_credentials(mut options: PgConnectOptions, credentials: &Credentials) -> PgConnectOptions {
    if let Some(user) = &credentials.username {
        options = options.username(user);
    }
    if let Some(password) = &credentials.password {
        options = options.password(password.expose());
    }
    options
}
