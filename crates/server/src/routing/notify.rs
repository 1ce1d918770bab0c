//! Cross-process routing updates on PostgreSQL: every server `LISTEN`s on the registry and
//! reloads its snapshot when another one announces a catalog change. Pools of tenants that
//! disappeared are closed. A lost connection is re-established, followed by a full reload
//! for whatever was missed meanwhile.
//!
//! - sqlx's `recv()` re-establishes a lost connection by itself and drops what was
//!   announced in between, so it never tells us to catch up: a replica stayed wrong until
//!   its next periodic reload (a suspended tenant served for 28.8 s). `try_recv()` says
//!   when it reconnected; that is a full reload too.
//! - A connection that dies silently (no FIN, no RST) would never say so: after
//!   [`HEARTBEAT`] without an announcement the listener proves its connection with a
//!   query, and treats a missing answer as a lost connection.
//!
//! - A process's own announcements carry its origin and are skipped: it published the
//!   change to its own snapshot before announcing it.
//! - Announcements that arrive while a reload runs make one more reload, not one each. A
//!   burst of 10,000 tenant creations on another server used to queue 10,000 full reloads
//!   of a 10,000-tenant catalog here (measured: `docs/benchmarks.md`, History).

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPoolOptions};
use tokio::sync::Notify;

use super::Routing;
use crate::catalog::ROUTING_CHANNEL;
use crate::pools::TenantPools;
use crate::store::Db;

/// Starts the listener (PostgreSQL registries only). Past `max_staleness` without
/// confirmation that nothing was missed, the snapshot counts as stale.
pub fn spawn_listener(
    registry: &Db,
    routing: Arc<Routing>,
    pools: Arc<TenantPools>,
    max_staleness: Duration,
) -> Option<tokio::task::JoinHandle<()>> {
    let Db::Postgres(pool) = registry else {
        return None;
    };
    routing.freshness.watch(max_staleness);
    let pool = pool.clone();
    // Holds at most one pending wake-up, however many announcements arrive meanwhile.
    let pending = Arc::new(Notify::new());
    {
        let (pending, routing) = (Arc::clone(&pending), Arc::clone(&routing));
        tokio::spawn(async move {
            loop {
                pending.notified().await;
                reload(&routing, &pools).await;
            }
        });
    }
    Some(tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        loop {
            match listen(&pool, &routing, &pending).await {
                Ok(()) => backoff = Duration::from_millis(100),
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "routing listener lost its connection");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }))
}

/// How long the listener waits for an announcement before it checks its connection.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// How long the check may take before the connection counts as lost.
pub const HEARTBEAT_DEADLINE: Duration = Duration::from_secs(1);
/// `application_name` of the listener's session, for operators reading `pg_stat_activity`.
pub const LISTENER_APPLICATION: &str = "tenantry-routing";

async fn listen(
    registry: &sqlx::PgPool,
    routing: &Routing,
    pending: &Notify,
) -> Result<(), sqlx::Error> {
    // A pool of its own, dropped with this attempt: a connection that stopped answering
    // (a failed heartbeat) must not go back to the registry pool, where a request would
    // wait on it.
    let own = PgPoolOptions::new()
        .max_connections(1)
        .connect_with((*registry.connect_options()).clone())
        .await?;
    let mut listener = PgListener::connect_with(&own).await?;
    listener.listen(ROUTING_CHANNEL).await?;
    name_session(&mut listener).await?;
    // Whatever changed while we were not listening.
    pending.notify_one();
    routing.freshness.confirm();
    loop {
        // `try_recv` reads whole messages from a buffer it keeps: cancelling it between
        // messages (the heartbeat's timeout) loses nothing.
        match tokio::time::timeout(HEARTBEAT, listener.try_recv()).await {
            Ok(Ok(Some(announcement))) => {
                routing.freshness.confirm();
                if announcement.payload() != routing.origin() {
                    pending.notify_one();
                }
            }
            Ok(Ok(None)) => {
                tracing::warn!(
                    "routing listener lost its connection and made a new one; reloading for what it missed"
                );
                name_session(&mut listener).await?;
                pending.notify_one();
                routing.freshness.confirm();
            }
            Ok(Err(e)) => return Err(e),
            Err(_quiet) => {
                let alive = sqlx::query("SELECT 1").execute(&mut listener);
                let asked = routing.freshness.stamp();
                match tokio::time::timeout(HEARTBEAT_DEADLINE, alive).await {
                    // Answered after every announcement sent before it was asked.
                    Ok(Ok(_)) => routing.freshness.confirm_as_of(asked),
                    Ok(Err(e)) => return Err(e),
                    Err(_) => return Err(sqlx::Error::PoolTimedOut),
                }
            }
        }
    }
}

async fn name_session(listener: &mut PgListener) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT set_config('application_name', $1, false)")
        .bind(LISTENER_APPLICATION)
        .execute(listener)
        .await
        .map(drop)
}

async fn reload(routing: &Routing, pools: &TenantPools) {
    let before = routing.snapshot();
    if let Err(e) = routing.reload().await {
        tracing::warn!(error = %e, "routing reload after a change notification failed");
        return;
    }
    for id in before.removed_in(&routing.snapshot()) {
        pools.retire(id).await;
    }
}
