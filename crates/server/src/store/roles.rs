//! Tenants' group roles on PostgreSQL (when tenants have roles of their own): each owns
//! its tenant's objects, and the tenant's logins act as it (decisions 0004 and 0008).

use std::collections::HashSet;

use sqlx::pool::PoolConnection;

use super::credentials::TenantRoles;
use super::instances::Instance;
use super::isolation::{Logins, mode};
use super::tenants::{StoreError, TenantStorage};
use super::{TenantLocation, postgres};
use crate::names::{SCHEMA_LOGIN_ROLE, SCHEMAS_DATABASE};

impl TenantStorage {
    /// The tenant's group role, created if missing — when tenants have their own roles.
    pub(super) async fn group_role(
        &self,
        loc: &TenantLocation,
        instance: &Instance,
    ) -> Result<Option<String>, StoreError> {
        if self.tenant_roles() != TenantRoles::Own {
            return Ok(None);
        }
        let group = loc.slug.group_role();
        postgres::ensure_group_role(instance.admin(), &group)
            .await
            .map_err(Self::unavailable(instance))?;
        Ok(Some(group))
    }

    /// Lets the instance's router act as these tenants where it cannot yet (schema
    /// tenants created before decision 0008). Returns the tenants it admitted.
    pub async fn admit_to_schema_login<'a>(
        &self,
        instance: &str,
        tenants: impl IntoIterator<Item = &'a TenantLocation>,
    ) -> Result<Vec<&'a TenantLocation>, StoreError> {
        if self.tenant_roles() != TenantRoles::Own {
            return Ok(Vec::new());
        }
        let instance = self.instance(instance)?;
        let Some(mut conn) = self.schemas_admin(instance).await? else {
            return Ok(Vec::new());
        };
        let admitted: HashSet<String> = sqlx::query_scalar(
            "SELECT r.rolname::text FROM pg_auth_members m \
             JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member \
             WHERE u.rolname = $1",
        )
        .bind(SCHEMA_LOGIN_ROLE)
        .fetch_all(&mut *conn)
        .await
        .map_err(Self::unavailable(instance))?
        .into_iter()
        .collect();
        let missing: Vec<&TenantLocation> = tenants
            .into_iter()
            .filter(|loc| {
                mode(loc.isolation).logins() == Logins::Instance
                    && !admitted.contains(&loc.slug.group_role())
            })
            .collect();
        if !missing.is_empty() {
            let groups: Vec<String> = missing.iter().map(|l| l.slug.group_role()).collect();
            postgres::admit_to_schema_login(
                &mut conn,
                SCHEMA_LOGIN_ROLE,
                SCHEMAS_DATABASE,
                &groups,
            )
            .await
            .map_err(Self::unavailable(instance))?;
        }
        Ok(missing)
    }

    /// Whether the tenant's group role is still on its instance.
    pub async fn group_role_exists(&self, loc: &TenantLocation) -> Result<bool, StoreError> {
        if self.tenant_roles() != TenantRoles::Own || mode(loc.isolation).logins() == Logins::None {
            return Ok(false);
        }
        let instance = self.instance(&loc.instance)?;
        postgres::role_exists(instance.admin(), &loc.slug.group_role())
            .await
            .map_err(Self::unavailable(instance))
    }

    /// Drops the tenant's group role (after its storage), with whatever it still holds.
    /// `in_pool_database`: it holds CONNECT on the schema-mode database, revoked there.
    pub(super) async fn drop_group_role(
        &self,
        loc: &TenantLocation,
        instance: &Instance,
        in_pool_database: bool,
    ) -> Result<(), StoreError> {
        if self.tenant_roles() != TenantRoles::Own {
            return Ok(());
        }
        let conn = if in_pool_database {
            self.schemas_admin(instance).await?
        } else {
            None
        };
        let mut conn = match conn {
            Some(conn) => conn,
            None => instance
                .admin()
                .acquire()
                .await
                .map_err(Self::unavailable(instance))?,
        };
        postgres::drop_group_role(&mut conn, &loc.slug.group_role()).await?;
        Ok(())
    }

    /// An administrative connection to the instance's schema-mode database; `None` when
    /// that database does not exist (so no schema tenant can either).
    pub(super) async fn schemas_admin(
        &self,
        instance: &Instance,
    ) -> Result<Option<PoolConnection<sqlx::Postgres>>, StoreError> {
        match instance.schemas_admin().acquire().await {
            Ok(conn) => Ok(Some(conn)),
            Err(e) if postgres::is_missing_database(&e) => Ok(None),
            Err(e) => Err(Self::unavailable(instance)(e)),
        }
    }
}
