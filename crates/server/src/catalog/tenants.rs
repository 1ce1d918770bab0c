use chrono::{DateTime, Utc};
use sqlx::types::Json;
use tenantry_proto::{Isolation, TenantStatus};
use uuid::Uuid;

use super::measure::op;
use super::{Catalog, CatalogError};
use crate::names::{DEFAULT_TENANT, Slug, SlugError};
use crate::store::TenantLocation;
use crate::store::cancel::transaction_in;
use crate::store::is_unique_violation;

/// One row of `registry_tenants`, with the tenant chain version recorded for it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TenantRecord {
    pub id: Uuid,
    pub slug: String,
    pub display_name: String,
    #[sqlx(try_from = "String")]
    pub status: TenantStatus,
    #[sqlx(try_from = "String")]
    pub isolation: Isolation,
    pub instance: String,
    pub physical_name: String,
    pub limits: Json<serde_json::Value>,
    pub tenant_chain_version: Option<i64>,
    /// The last lifecycle step finished while provisioning or deleting.
    pub lifecycle_step: Option<String>,
    /// The named plan (NULL: the default plan).
    pub plan: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TenantRecord {
    /// Where the tenant's storage is. Fails only for a corrupt row (a slug that is not
    /// valid), which must never become a physical name.
    pub fn location(&self) -> Result<TenantLocation, SlugError> {
        let slug = if self.slug == DEFAULT_TENANT {
            Slug::default_tenant()
        } else {
            Slug::parse(&self.slug)?
        };
        Ok(TenantLocation {
            slug,
            isolation: self.isolation,
            instance: self.instance.clone(),
        })
    }
}

/// What the provisioner records before it creates any storage.
#[derive(Debug, Clone)]
pub struct NewTenant {
    pub id: Uuid,
    pub slug: String,
    pub display_name: String,
    pub status: TenantStatus,
    pub isolation: Isolation,
    pub instance: String,
    pub physical_name: String,
    pub plan: Option<String>,
}

const SELECT_TENANT: &str = "SELECT t.id, t.slug, t.display_name, t.status, t.isolation, \
    t.instance, t.physical_name, t.limits, v.version AS tenant_chain_version, t.lifecycle_step, t.plan, t.created_at, t.updated_at \
    FROM registry_tenants t \
    LEFT JOIN registry_tenant_versions v ON v.tenant_id = t.id AND v.chain = 'tenant'";

impl Catalog {
    /// Inserts a tenant row; a taken slug is a conflict.
    pub async fn insert_tenant(&self, t: &NewTenant) -> Result<TenantRecord, CatalogError> {
        let now = Utc::now();
        let result = op!(self, "insert_tenant", Write, pool => {
            sqlx::query(
                "INSERT INTO registry_tenants (id, slug, display_name, status, isolation, instance, \
                 physical_name, limits, settings, created_at, updated_at, plan) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, '{}', '{}', $8, $8, $9)",
            )
            .bind(t.id)
            .bind(&t.slug)
            .bind(&t.display_name)
            .bind(t.status.as_str())
            .bind(t.isolation.as_str())
            .bind(&t.instance)
            .bind(&t.physical_name)
            .bind(now)
            .bind(&t.plan)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        });
        match result {
            Ok(_) => self
                .tenant(&t.slug)
                .await?
                .ok_or(CatalogError::NotFound("tenant")),
            Err(e) if is_unique_violation(&e) => Err(CatalogError::Conflict("tenant")),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn tenant(&self, slug: &str) -> Result<Option<TenantRecord>, CatalogError> {
        let sql = format!("{SELECT_TENANT} WHERE t.slug = $1");
        Ok(op!(self, "tenant", Read, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(slug).fetch_optional(pool).await?
        }))
    }

    /// Tenants ordered by slug, starting after `after`.
    pub async fn tenants_page(
        &self,
        after: Option<&str>,
        search: Option<&str>,
        limit: u32,
    ) -> Result<Vec<TenantRecord>, CatalogError> {
        let sql = format!(
            "{SELECT_TENANT} WHERE t.slug > $1 \
             AND (lower(t.slug) LIKE $2 ESCAPE '\\' OR lower(t.display_name) LIKE $2 ESCAPE '\\') \
             ORDER BY t.slug LIMIT $3"
        );
        let pattern = search.map_or_else(|| "%".to_owned(), contains_pattern);
        Ok(op!(self, "tenants_page", Read, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(after.unwrap_or(""))
                .bind(&pattern)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        }))
    }

    /// Every tenant, for the routing snapshot and the migrator.
    pub async fn all_tenants(&self) -> Result<Vec<TenantRecord>, CatalogError> {
        let sql = format!("{SELECT_TENANT} ORDER BY t.slug");
        Ok(
            op!(self, "all_tenants", Read, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).fetch_all(pool).await?),
        )
    }

    /// Tenants being created or deleted, whose last step is older than `before`.
    pub async fn unsettled_tenants(
        &self,
        before: DateTime<Utc>,
    ) -> Result<Vec<TenantRecord>, CatalogError> {
        let sql = format!(
            "{SELECT_TENANT} WHERE t.status IN ('provisioning', 'deleting') AND t.updated_at <= $1 ORDER BY t.slug"
        );
        Ok(
            op!(self, "unsettled_tenants", Read, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(before).fetch_all(pool).await?),
        )
    }

    /// Moves a tenant from `from` to `to`, only if it is still `from`: a compare-and-set,
    /// so no transition can undo another made meanwhile (a status change read before a
    /// delete began must not flip the `deleting` row back to active). `StatusChanged` when
    /// the tenant is no longer `from`.
    pub async fn set_status(
        &self,
        id: Uuid,
        from: TenantStatus,
        to: TenantStatus,
    ) -> Result<(), CatalogError> {
        let n = op!(self, "set_status", Write, pool => {
            sqlx::query("UPDATE registry_tenants SET status = $3, updated_at = $4 WHERE id = $1 AND status = $2")
                .bind(id)
                .bind(from.as_str())
                .bind(to.as_str())
                .bind(Utc::now())
                .execute(pool)
                .await?
                .rows_affected()
        });
        if n == 1 {
            return Ok(());
        }
        match self.tenant_by_id(id).await? {
            Some(_) => Err(CatalogError::StatusChanged),
            None => Err(CatalogError::NotFound("tenant")),
        }
    }

    /// Records the lifecycle step just finished (`None` when the tenant became active).
    pub async fn set_step(&self, id: Uuid, step: Option<&str>) -> Result<(), CatalogError> {
        op!(self, "set_step", Write, pool => {
            sqlx::query("UPDATE registry_tenants SET lifecycle_step = $2, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(step)
                .bind(Utc::now())
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    pub async fn set_plan(&self, id: Uuid, plan: &str) -> Result<(), CatalogError> {
        op!(self, "set_plan", Write, pool => {
            sqlx::query("UPDATE registry_tenants SET plan = $2, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(plan)
                .bind(Utc::now())
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    pub async fn set_limits(
        &self,
        id: Uuid,
        limits: &serde_json::Value,
    ) -> Result<(), CatalogError> {
        op!(self, "set_limits", Write, pool => {
            sqlx::query("UPDATE registry_tenants SET limits = $2, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(Json(limits))
                .bind(Utc::now())
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    /// A tenant by id (agents' tokens and bindings name tenants by id).
    pub async fn tenant_by_id(&self, id: Uuid) -> Result<Option<TenantRecord>, CatalogError> {
        let sql = format!("{SELECT_TENANT} WHERE t.id = $1");
        Ok(
            op!(self, "tenant_by_id", Read, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(id).fetch_optional(pool).await?),
        )
    }

    pub async fn set_display_name(&self, id: Uuid, name: &str) -> Result<(), CatalogError> {
        let n = op!(self, "set_display_name", Write, pool => {
            sqlx::query("UPDATE registry_tenants SET display_name = $2, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(name)
                .bind(Utc::now())
                .execute(pool)
                .await?
                .rows_affected()
        });
        if n == 0 {
            return Err(CatalogError::NotFound("tenant"));
        }
        Ok(())
    }

    /// Removes the tenant row and everything hanging off it in the registry (domains,
    /// versions) in one transaction; audit events are kept. Returns domains removed.
    pub async fn delete_tenant(&self, id: Uuid) -> Result<u64, CatalogError> {
        op!(self, "delete_tenant", Write, pool => transaction_in(pool, async |tx| {
            let domains = sqlx::query("DELETE FROM registry_domains WHERE tenant_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query("DELETE FROM registry_enrollment_tokens WHERE tenant_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM registry_trusted_keys WHERE tenant_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM registry_tenant_versions WHERE tenant_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM registry_tenants WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            Ok(domains)
        })
        .await)
    }

    /// Whether anything of the tenant is still in the registry (besides its audit trail).
    pub async fn tenant_leftovers(&self, id: Uuid) -> Result<i64, CatalogError> {
        Ok(op!(self, "tenant_leftovers", Read, pool => {
            sqlx::query_scalar(
                "SELECT (SELECT COUNT(*) FROM registry_tenants WHERE id = $1) \
                 + (SELECT COUNT(*) FROM registry_domains WHERE tenant_id = $1) \
                 + (SELECT COUNT(*) FROM registry_tenant_versions WHERE tenant_id = $1) \
                 + (SELECT COUNT(*) FROM registry_trusted_keys WHERE tenant_id = $1) \
                 + (SELECT COUNT(*) FROM registry_enrollment_tokens WHERE tenant_id = $1) \
                 + (SELECT COUNT(*) FROM registry_host_bindings WHERE tenant_id = $1)",
            )
            .bind(id)
            .fetch_one(pool)
            .await?
        }))
    }

    /// How many tenants each instance holds (every status: a tenant being created or
    /// deleted still occupies its place).
    pub async fn tenants_per_instance(&self) -> Result<Vec<(String, i64)>, CatalogError> {
        Ok(op!(self, "tenants_per_instance", Read, pool => {
            sqlx::query_as("SELECT instance, COUNT(*) FROM registry_tenants GROUP BY instance")
                .fetch_all(pool)
                .await?
        }))
    }

    /// Counts tenants other than the built-in one (to refuse collapsing a multi-tenant store).
    pub async fn count_non_default(&self) -> Result<i64, CatalogError> {
        Ok(op!(self, "count_non_default", Read, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM registry_tenants WHERE slug <> $1")
                .bind(crate::names::DEFAULT_TENANT)
                .fetch_one(pool)
                .await?
        }))
    }
}

/// A `LIKE … ESCAPE '\'` pattern matching any text that contains `needle`, lowercased;
/// the needle's own `%`, `_` and `\` match only themselves.
fn contains_pattern(needle: &str) -> String {
    let mut pattern = String::with_capacity(needle.len() + 2);
    pattern.push('%');
    for c in needle.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tenantry_proto::{Isolation, TenantStatus};
    use uuid::Uuid;

    use super::NewTenant;
    use crate::catalog::{Catalog, CatalogError};
    use crate::migrator::{Chain, Chains, apply_on};
    use crate::store::{Backend, PoolSettings, sqlite};

    type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

    /// A SQLite registry with its chain applied, in a temporary directory.
    async fn registry() -> Result<(tempfile::TempDir, Catalog)> {
        let dir = tempfile::TempDir::new()?;
        let settings = PoolSettings {
            max_connections: 2,
            idle_timeout: Duration::from_secs(60),
            acquire_timeout: Duration::from_secs(5),
            max_lifetime: None,
        };
        let db = sqlite::open(&dir.path().join("registry.db"), settings, true).await?;
        let chains = Chains::embedded(Backend::Sqlite);
        apply_on(&mut db.acquire().await?, &chains, Chain::Registry, None).await?;
        Ok((dir, Catalog::new(db)))
    }

    /// A status change decided on a stale read (the tenant was `active` then) finds it
    /// `deleting` now, and changes nothing: it cannot bring back a tenant being deleted.
    #[tokio::test]
    async fn a_status_change_from_a_stale_read_changes_nothing() -> Result<()> {
        let (_dir, catalog) = registry().await?;
        let record = catalog
            .insert_tenant(&NewTenant {
                id: Uuid::now_v7(),
                slug: "acme".into(),
                display_name: "Acme".into(),
                status: TenantStatus::Active,
                isolation: Isolation::File,
                instance: "embedded".into(),
                physical_name: "t_acme".into(),
                plan: None,
            })
            .await?;
        catalog
            .set_status(record.id, TenantStatus::Active, TenantStatus::Deleting)
            .await?;
        for to in [TenantStatus::Suspended, TenantStatus::Active] {
            let stale = catalog
                .set_status(record.id, TenantStatus::Active, to)
                .await;
            assert!(
                matches!(stale, Err(CatalogError::StatusChanged)),
                "{stale:?}"
            );
        }
        let now = catalog.tenant("acme").await?.map(|r| r.status);
        assert_eq!(now, Some(TenantStatus::Deleting));
        let gone = catalog
            .set_status(
                Uuid::now_v7(),
                TenantStatus::Active,
                TenantStatus::Suspended,
            )
            .await;
        assert!(matches!(gone, Err(CatalogError::NotFound(_))), "{gone:?}");
        Ok(())
    }
}
