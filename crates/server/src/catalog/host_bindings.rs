//! Host bindings: enrolled host → tenant, in the registry, so a host credential is routed
//! without opening any tenant database. Enrolling burns a token use and binds the machine
//! in one transaction; the same machine enrolling again finds its binding and burns nothing.

use std::collections::BTreeMap;

use chrono::Utc;
use sqlx::types::Json;
use uuid::Uuid;

use super::measure::op;
use super::{Catalog, CatalogError};
use crate::store::cancel::transaction_in;

#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    /// Unknown, expired, exhausted or revoked: the agent is told no more than that.
    #[error("invalid or expired enrollment token")]
    InvalidToken,
    #[error("the tenant has reached its limit of {0} hosts")]
    HostLimit(i64),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

impl From<sqlx::Error> for EnrollError {
    fn from(e: sqlx::Error) -> Self {
        EnrollError::Catalog(e.into())
    }
}

/// A token that may enroll hosts into a tenant right now.
#[derive(Debug, Clone)]
pub struct UsableToken {
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// Given to every host it enrolls.
    pub labels: BTreeMap<String, String>,
}

type TokenRow = (Uuid, Uuid, Json<BTreeMap<String, String>>);

/// The binding an enrollment found or made.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub host_id: Uuid,
    /// `false` when the machine was enrolled before (no use was burned).
    pub new: bool,
}

impl Catalog {
    /// The token with this hash, if it is neither revoked nor expired. (A used-up token
    /// still re-enrolls a machine it bound; [`Self::bind_host`] refuses it for new ones.)
    pub async fn usable_enrollment_token(
        &self,
        hash: &str,
    ) -> Result<Option<UsableToken>, CatalogError> {
        let row: Option<TokenRow> = op!(self, "usable_enrollment_token", Read, pool => {
            sqlx::query_as(
                "SELECT id, tenant_id, labels FROM registry_enrollment_tokens WHERE token_hash = $1 \
                 AND revoked_at IS NULL AND expires_at > $2",
            )
            .bind(hash)
            .bind(Utc::now())
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(|(id, tenant_id, labels)| UsableToken {
            id,
            tenant_id,
            labels: labels.0,
        }))
    }

    /// Binds `machine_id` to the token's tenant, or finds its earlier binding. A new
    /// binding burns one use of the token and respects the tenant's `max_hosts`.
    pub async fn bind_host(
        &self,
        token: &UsableToken,
        machine_id: &str,
        max_hosts: Option<i64>,
    ) -> Result<Binding, EnrollError> {
        let now = Utc::now();
        let fresh = Uuid::now_v7();
        op!(self, "bind_host", Write, pool => transaction_in(pool, async |tx| {
            // Serializes enrollments into one tenant, so the host limit holds under races.
            sqlx::query("UPDATE registry_tenants SET updated_at = updated_at WHERE id = $1")
                .bind(token.tenant_id)
                .execute(&mut *tx)
                .await?;
            let existing: Option<Uuid> = sqlx::query_scalar(
                "SELECT host_id FROM registry_host_bindings WHERE tenant_id = $1 AND machine_id = $2",
            )
            .bind(token.tenant_id)
            .bind(machine_id)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(host_id) = existing {
                return Ok(Binding { host_id, new: false });
            }
            if let Some(limit) = max_hosts {
                let count: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM registry_host_bindings WHERE tenant_id = $1",
                )
                .bind(token.tenant_id)
                .fetch_one(&mut *tx)
                .await?;
                if count >= limit {
                    return Err(EnrollError::HostLimit(limit));
                }
            }
            let burned = sqlx::query(
                "UPDATE registry_enrollment_tokens SET uses = uses + 1 WHERE id = $1 \
                 AND revoked_at IS NULL AND expires_at > $2 AND (max_uses IS NULL OR uses < max_uses)",
            )
            .bind(token.id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if burned == 0 {
                return Err(EnrollError::InvalidToken);
            }
            sqlx::query(
                "INSERT INTO registry_host_bindings (host_id, tenant_id, machine_id, enrollment_token_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(fresh)
            .bind(token.tenant_id)
            .bind(machine_id)
            .bind(token.id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            Ok(Binding {
                host_id: fresh,
                new: true,
            })
        })
        .await)
    }

    /// Undoes a new binding whose host could not be recorded: the binding goes and the
    /// token gets its use back.
    pub async fn release_binding(
        &self,
        token: &UsableToken,
        host_id: Uuid,
    ) -> Result<(), CatalogError> {
        op!(self, "release_binding", Write, pool => transaction_in(pool, async |tx| {
            let n = sqlx::query("DELETE FROM registry_host_bindings WHERE host_id = $1 AND tenant_id = $2")
                .bind(host_id)
                .bind(token.tenant_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n > 0 {
                sqlx::query("UPDATE registry_enrollment_tokens SET uses = uses - 1 WHERE id = $1 AND uses > 0")
                    .bind(token.id)
                    .execute(&mut *tx)
                    .await?;
            }
            Ok::<_, CatalogError>(())
        })
        .await)
    }

    /// The tenant a host is bound to; `None` once the host (or its tenant) is deleted.
    pub async fn host_tenant(&self, host_id: Uuid) -> Result<Option<Uuid>, CatalogError> {
        Ok(op!(self, "host_tenant", Read, pool => {
            sqlx::query_scalar("SELECT tenant_id FROM registry_host_bindings WHERE host_id = $1")
                .bind(host_id)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// Removes a host's binding (its credential stops working). Returns whether it existed.
    pub async fn unbind_host(&self, tenant_id: Uuid, host_id: Uuid) -> Result<bool, CatalogError> {
        let n = op!(self, "unbind_host", Write, pool => {
            sqlx::query("DELETE FROM registry_host_bindings WHERE tenant_id = $1 AND host_id = $2")
                .bind(tenant_id)
                .bind(host_id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n > 0)
    }
}
