//! Plans created through the API (`registry_plans`); plans of the configuration are not
//! stored. Every replica reads them into its routing snapshot.

use chrono::Utc;
use sqlx::types::Json;

use super::measure::op;
use super::{Catalog, CatalogError};

/// A plan as the registry keeps it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PlanRecord {
    pub name: String,
    pub limits: Json<serde_json::Value>,
}

impl Catalog {
    pub async fn plans(&self) -> Result<Vec<PlanRecord>, CatalogError> {
        Ok(op!(self, "plans", Read, pool => {
            sqlx::query_as("SELECT name, limits FROM registry_plans ORDER BY name")
                .fetch_all(pool)
                .await?
        }))
    }

    /// Creates or replaces a plan; whether it was new.
    pub async fn put_plan(
        &self,
        name: &str,
        limits: &serde_json::Value,
    ) -> Result<bool, CatalogError> {
        let now = Utc::now();
        let created: bool = op!(self, "put_plan", Write, pool => {
            sqlx::query_scalar(
                "INSERT INTO registry_plans (name, limits, created_at, updated_at) VALUES ($1, $2, $3, $3) \
                 ON CONFLICT (name) DO UPDATE SET limits = excluded.limits, updated_at = excluded.updated_at \
                 RETURNING created_at = updated_at",
            )
            .bind(name)
            .bind(Json(limits))
            .bind(now)
            .fetch_one(pool)
            .await?
        });
        Ok(created)
    }

    /// Removes a plan no tenant is on. `Conflict` while tenants are on it, `NotFound` when
    /// there is no such plan.
    pub async fn delete_plan(&self, name: &str) -> Result<(), CatalogError> {
        let removed = op!(self, "delete_plan", Write, pool => {
            sqlx::query(
                "DELETE FROM registry_plans WHERE name = $1 \
                 AND NOT EXISTS (SELECT 1 FROM registry_tenants WHERE plan = $1)",
            )
            .bind(name)
            .execute(pool)
            .await?
            .rows_affected()
        });
        if removed == 1 {
            return Ok(());
        }
        match self.plans().await?.iter().any(|p| p.name == name) {
            true => Err(CatalogError::Conflict("tenants on the plan")),
            false => Err(CatalogError::NotFound("plan")),
        }
    }

    /// How many tenants name each plan.
    pub async fn plan_tenants(&self) -> Result<Vec<(String, i64)>, CatalogError> {
        Ok(op!(self, "plan_tenants", Read, pool => {
            sqlx::query_as(
                "SELECT plan, COUNT(*) FROM registry_tenants WHERE plan IS NOT NULL GROUP BY plan",
            )
            .fetch_all(pool)
            .await?
        }))
    }
}
