//! Cross-process routing updates on PostgreSQL: every server `LISTEN`s on the registry and
//! reloads its snapshot when another one announces a catalog change. Pools of tenants that
//! disappeared are closed. A lost connection is re-established, followed by a full reload
//! for whatever was missed meanwhile.
//!
//! - A process's own announcements carry its origin and are skipped: it published the
//!   change to its own snapshot before announcing it.
//! - Announcements that arrive while a reload runs make one more reload, not one each. A
//!   burst of 10,000 tenant creations on another server used to queue 10,000 full reloads
//!   of a 10,000-tenant catalog here (measured: `docs/benchmarks.md`, History).

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio::sync::Notify;

use super::Routing;
use crate::catalog::ROUTING_CHANNEL;
use crate::pools::TenantPools;
use crate::store::Db;

/// Starts the listener (PostgreSQL registries only).
pub fn spawn_listener(
    registry: &Db,
    routing: Arc<Routing>,
    pools: Arc<TenantPools>,
) -> Option<tokio::task::JoinHandle<()>> {
    let Db::Postgres(pool) = registry else {
        return None;
    };
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

async fn listen(
    pool: &sqlx::PgPool,
    routing: &Routing,
    pending: &Notify,
) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(ROUTING_CHANNEL).await?;
    // Whatever changed while we were not listening.
    pending.notify_one();
    loop {
        let announcement = listener.recv().await?;
        if announcement.payload() != routing.origin() {
            pending.notify_one();
        }
    }
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
