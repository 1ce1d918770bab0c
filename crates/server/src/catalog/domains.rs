use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::measure::op;
use super::{Catalog, CatalogError};
use crate::store::is_unique_violation;

impl Catalog {
    pub async fn add_domain(
        &self,
        tenant_id: Uuid,
        domain: &str,
    ) -> Result<DateTime<Utc>, CatalogError> {
        let now = Utc::now();
        let result = op!(self, "add_domain", Write, pool => {
            sqlx::query("INSERT INTO registry_domains (domain, tenant_id, created_at) VALUES ($1, $2, $3)")
                .bind(domain)
                .bind(tenant_id)
                .bind(now)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        });
        match result {
            Ok(_) => Ok(now),
            Err(e) if is_unique_violation(&e) => Err(CatalogError::Conflict("domain")),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn remove_domain(&self, tenant_id: Uuid, domain: &str) -> Result<(), CatalogError> {
        let n = op!(self, "remove_domain", Write, pool => {
            sqlx::query("DELETE FROM registry_domains WHERE tenant_id = $1 AND domain = $2")
                .bind(tenant_id)
                .bind(domain)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if n == 0 {
            return Err(CatalogError::NotFound("domain"));
        }
        Ok(())
    }

    /// One tenant's domains, alphabetically.
    pub async fn domains_of(
        &self,
        tenant_id: Uuid,
    ) -> Result<Vec<(String, DateTime<Utc>)>, CatalogError> {
        Ok(op!(self, "domains_of", Read, pool => {
            sqlx::query_as("SELECT domain, created_at FROM registry_domains WHERE tenant_id = $1 ORDER BY domain")
                .bind(tenant_id)
                .fetch_all(pool)
                .await?
        }))
    }

    /// Every domain with its tenant's slug, for the routing snapshot.
    pub async fn all_domains(&self) -> Result<Vec<(String, String)>, CatalogError> {
        Ok(op!(self, "all_domains", Read, pool => {
            sqlx::query_as(
                "SELECT d.domain, t.slug FROM registry_domains d \
                 JOIN registry_tenants t ON t.id = d.tenant_id",
            )
            .fetch_all(pool)
            .await?
        }))
    }
}
