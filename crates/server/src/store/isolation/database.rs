//! Database mode: each tenant is a PostgreSQL database on its instance, created from the
//! instance's `tenantry_template` (`CREATE DATABASE … TEMPLATE`, atomic), owned by the
//! tenant's group role when tenants have their own roles.

use sqlx::Connection;
use tenantry_proto::Isolation;

use super::{At, IsolationMode, Logins, Mode, Op, Pooling, Template};
use crate::names::{TEMPLATE_DATABASE, TEMPLATE_OWNER};
use crate::store::cancel::Unsettled;
use crate::store::credentials::TenantRoles;
use crate::store::instances::Instance;
use crate::store::logins::Login;
use crate::store::tenants::{StoreError, TenantStorage};
use crate::store::{Backend, PoolSettings, TenantDb, postgres};

pub struct Database;

pub static MODE: Mode = Mode::new(
    Isolation::Database,
    (Pooling::Tenant, Logins::Tenant),
    &[Backend::Postgres],
    &Database,
);

impl IsolationMode for Database {
    fn create<'a>(&'a self, At { st, loc }: At<'a>) -> Op<'a, Option<i64>> {
        Box::pin(async move {
            let instance = st.instance(&loc.instance)?;
            let unavailable = TenantStorage::unavailable(instance);
            let name = loc.slug.physical_name();
            let admin = instance.admin();
            let group = st.group_role(loc, instance).await?;
            let template = Template::Instance(&instance.name);
            let fresh = if postgres::database_exists(admin, &name)
                .await
                .map_err(&unavailable)?
            {
                false
            } else {
                if !st.tables().is_current(template) {
                    st.tables().update_template(st, instance).await?;
                }
                postgres::create_database_from_template(admin, &name, TEMPLATE_DATABASE)
                    .await
                    .map_err(&unavailable)?
            };
            if let Some(group) = &group {
                hand_over(instance, &name, group).await?;
            }
            Ok((fresh && st.tables().is_current(template)).then(|| st.tables().latest()))
        })
    }

    fn open<'a>(&'a self, At { st, loc }: At<'a>, settings: PoolSettings) -> Op<'a, TenantDb> {
        Box::pin(async move {
            let instance = st.instance(&loc.instance)?;
            let db = st
                .open_leased(instance, Login::Tenant(loc), settings)
                .await?;
            Ok(TenantDb::whole(db))
        })
    }

    fn destroy<'a>(&'a self, At { st, loc }: At<'a>) -> Op<'a, bool> {
        Box::pin(async move {
            let instance = st.instance(&loc.instance)?;
            let dropped = postgres::drop_database(instance.admin(), &loc.slug.physical_name())
                .await
                .map_err(TenantStorage::unavailable(instance))?;
            st.drop_group_role(loc, instance, false).await?;
            Ok(dropped)
        })
    }

    fn exists<'a>(&'a self, At { st, loc }: At<'a>) -> Op<'a, bool> {
        Box::pin(async move {
            let instance = st.instance(&loc.instance)?;
            postgres::database_exists(instance.admin(), &loc.slug.physical_name())
                .await
                .map_err(TenantStorage::unavailable(instance))
        })
    }

    fn size<'a>(&'a self, At { st, loc }: At<'a>) -> Op<'a, Option<u64>> {
        Box::pin(async move {
            let instance = st.instance(&loc.instance)?;
            let bytes: Option<i64> = sqlx::query_scalar(
                "SELECT pg_database_size(datname) FROM pg_database WHERE datname = $1",
            )
            .bind(loc.slug.physical_name())
            .fetch_optional(instance.admin())
            .await
            .map_err(TenantStorage::unavailable(instance))?;
            Ok(bytes.map(|b| b.max(0) as u64))
        })
    }
}

/// Gives a tenant database (fresh from the template, or left by an earlier attempt) to
/// the tenant's group role. Idempotent.
async fn hand_over(instance: &Instance, database: &str, group: &str) -> Result<(), StoreError> {
    let unavailable = TenantStorage::unavailable(instance);
    postgres::hand_database_to(instance.admin(), database, group)
        .await
        .map_err(&unavailable)?;
    let mut conn = sqlx::PgConnection::connect_with(&instance.admin_options(database))
        .await
        .map_err(&unavailable)?;
    let adopted = postgres::adopt_template_objects(&mut conn, group).await;
    conn.close().await?;
    Ok(adopted?)
}

/// Whether the instance has its template database yet.
pub async fn template_exists(instance: &Instance) -> Result<bool, StoreError> {
    postgres::database_exists(instance.admin(), TEMPLATE_DATABASE)
        .await
        .map_err(TenantStorage::unavailable(instance))
}

/// Runs `body` on the instance's template database (created if missing), holding the
/// template's lock so no copy is made meanwhile, and closing every session after, or
/// copying it would fail.
pub async fn with_template<T>(
    st: &TenantStorage,
    instance: &Instance,
    body: impl AsyncFnOnce(&TenantDb) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let unavailable = TenantStorage::unavailable(instance);
    let admin = instance.admin();
    postgres::create_database(admin, TEMPLATE_DATABASE, None)
        .await
        .map_err(&unavailable)?;
    let mut pooled = admin.acquire().await.map_err(&unavailable)?;
    // A session lock: the connection is never pooled again while it may hold it.
    let mut lock = Unsettled::new(&mut pooled);
    postgres::lock_template(&mut lock, TEMPLATE_DATABASE).await?;
    let result = async {
        let one = PoolSettings {
            max_connections: 1,
            ..st.settings()
        };
        let mut options = instance.admin_options(TEMPLATE_DATABASE);
        if st.tenant_roles() == TenantRoles::Own {
            // The template's objects belong to a role that copies hand to the tenant.
            postgres::ensure_group_role(admin, TEMPLATE_OWNER)
                .await
                .map_err(&unavailable)?;
            let mut conn = sqlx::PgConnection::connect_with(&options)
                .await
                .map_err(&unavailable)?;
            let prepared = postgres::prepare_template(&mut conn, TEMPLATE_DATABASE).await;
            conn.close().await?;
            prepared?;
            options = postgres::acting_as(options, TEMPLATE_OWNER);
        }
        let template = TenantDb::whole(postgres::open(options, one).await.map_err(&unavailable)?);
        let result = body(&template).await;
        template.db().close().await;
        result
    }
    .await;
    postgres::unlock_template(&mut lock, TEMPLATE_DATABASE).await?;
    lock.settle();
    result
}
