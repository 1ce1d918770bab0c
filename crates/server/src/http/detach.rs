//! Requests run to completion (decision 0009). hyper drops a handler's future when its
//! client hangs up; a handler dropped between two writes, or inside a transaction, or while
//! holding a lock, would leave work half done for someone else to trip over. So every
//! request runs on a task of its own, and a client that goes away only stops waiting for
//! the answer. Shutdown waits for these tasks before it closes the pools.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;

/// Requests being handled now, and a signal when there are none.
#[derive(Debug, Default)]
pub struct InFlight {
    count: AtomicU64,
    idle: tokio::sync::Notify,
}

impl InFlight {
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Acquire)
    }

    /// Returns once no request is being handled.
    pub async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.count() == 0 {
                return;
            }
            notified.await;
        }
    }

    fn enter(self: &Arc<Self>) -> Entered {
        self.count.fetch_add(1, Ordering::AcqRel);
        Entered(Arc::clone(self))
    }
}

/// One request being handled; leaves when dropped, on whatever path.
struct Entered(Arc<InFlight>);

impl Drop for Entered {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

pub async fn middleware(
    State(in_flight): State<Arc<InFlight>>,
    req: Request,
    next: Next,
) -> Response {
    let entered = in_flight.enter();
    let task = tokio::spawn(async move {
        let response = next.run(req).await;
        drop(entered);
        response
    });
    match task.await {
        Ok(response) => response,
        Err(e) => ApiError::internal(format!("the request's task failed: {e}")).into_response(),
    }
}
