//! Cross-process routing updates on PostgreSQL: every server `LISTEN`s on the registry and
//! reloads its snapshot when another one announces a catalog change. Pools of tenants that
//! disappeared are closed. A lost connection is re-established, followed by a full reload
//! for whatever was missed meanwhile.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;

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
    Some(tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        loop {
            match listen(&pool, &routing, &pools).await {
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
    pools: &TenantPools,
) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(ROUTING_CHANNEL).await?;
    // Whatever changed while we were not listening.
    reload(routing, pools).await;
    loop {
        listener.recv().await?;
        // Several announcements already received in a burst need one reload.
        while listener.next_buffered().is_some() {}
        reload(routing, pools).await;
    }
}

async fn reload(routing: &Routing, pools: &TenantPools) {
    let before = routing.snapshot();
    if let Err(e) = routing.reload().await {
        tracing::warn!(error = %e, "routing reload after a change notification failed");
        return;
    }
    for id in before.removed_in(&routing.snapshot()) {
        pools.evict(id).await;
    }
}
