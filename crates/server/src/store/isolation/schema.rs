//! Schema mode: each tenant is a schema in its instance's `tenantry_pool` database. Its
//! requests share the instance's pool; every checkout pins `search_path` (and, with
//! tenant roles, `SET ROLE`s to the tenant's group role: decision 0008).

use tenantry_proto::Isolation;

use super::{At, IsolationMode, Logins, Mode, Op, Pooling};
use crate::names::{SCHEMA_LOGIN_ROLE, SCHEMAS_DATABASE};
use crate::store::cancel::transaction;
use crate::store::credentials::TenantRoles;
use crate::store::sql::quote_ident;
use crate::store::tenants::{StoreError, TenantStorage};
use crate::store::{Backend, PoolSettings, TenantDb, postgres};

pub struct Schema;

pub static MODE: Mode = Mode::new(
    Isolation::Schema,
    (Pooling::Instance, Logins::Instance),
    &[Backend::Postgres],
    &Schema,
);

impl IsolationMode for Schema {
    fn create<'a>(&'a self, At { st, loc }: At<'a>) -> Op<'a, Option<i64>> {
        Box::pin(async move {
            let instance = st.instance(&loc.instance)?;
            let unavailable = TenantStorage::unavailable(instance);
            let group = st.group_role(loc, instance).await?;
            postgres::create_database(instance.admin(), SCHEMAS_DATABASE, None)
                .await
                .map_err(&unavailable)?;
            let schema = quote_ident(&loc.slug.physical_name());
            let mut conn = instance
                .schemas_admin()
                .acquire()
                .await
                .map_err(&unavailable)?;
            if let Some(group) = &group {
                // Only the schema login's logins connect here, and act as this tenant only
                // after `SET ROLE`.
                postgres::admit_to_schema_login(
                    &mut conn,
                    SCHEMA_LOGIN_ROLE,
                    SCHEMAS_DATABASE,
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
                    let owner = format!("ALTER SCHEMA {schema} OWNER TO {}", quote_ident(group));
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
                st.tables().create_in(tx, &schema).await
            })
            .await?;
            Ok(Some(st.tables().latest()))
        })
    }

    fn open<'a>(&'a self, At { st, loc }: At<'a>, settings: PoolSettings) -> Op<'a, TenantDb> {
        Box::pin(async move {
            let pool = st.open_instance_pool(&loc.instance, settings).await?;
            self.on_instance_pool(At { st, loc }, pool)
        })
    }

    fn on_instance_pool(
        &self,
        At { st, loc }: At<'_>,
        pool: sqlx::PgPool,
    ) -> Result<TenantDb, StoreError> {
        let role = (st.tenant_roles() == TenantRoles::Own).then(|| loc.slug.group_role());
        Ok(TenantDb::schema(
            pool,
            &loc.slug.physical_name(),
            role.as_deref(),
        ))
    }

    fn destroy<'a>(&'a self, At { st, loc }: At<'a>) -> Op<'a, bool> {
        Box::pin(async move {
            let instance = st.instance(&loc.instance)?;
            let dropped = match st.schemas_admin(instance).await? {
                Some(mut conn) => {
                    postgres::drop_schema(&mut conn, &loc.slug.physical_name()).await?
                }
                None => false,
            };
            st.drop_group_role(loc, instance, true).await?;
            Ok(dropped)
        })
    }

    fn exists<'a>(&'a self, At { st, loc }: At<'a>) -> Op<'a, bool> {
        Box::pin(async move {
            let instance = st.instance(&loc.instance)?;
            let Some(mut conn) = st.schemas_admin(instance).await? else {
                return Ok(false);
            };
            Ok(postgres::schema_exists(&mut conn, &loc.slug.physical_name()).await?)
        })
    }

    fn size<'a>(&'a self, At { st, loc }: At<'a>) -> Op<'a, Option<u64>> {
        Box::pin(async move {
            let instance = st.instance(&loc.instance)?;
            let Some(mut conn) = st.schemas_admin(instance).await? else {
                return Ok(None);
            };
            let bytes: Option<i64> = sqlx::query_scalar(
                "SELECT sum(pg_total_relation_size(c.oid))::bigint FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND c.relkind IN ('r', 'm')",
            )
            .bind(loc.slug.physical_name())
            .fetch_one(&mut *conn)
            .await?;
            Ok(Some(bytes.unwrap_or(0).max(0) as u64))
        })
    }
}
