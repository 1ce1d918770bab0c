//! The renewal task: the server's own token, and every held lease, renewed or replaced
//! when [`LeaseTimes`] says so. Runs off the request path.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use super::timing::{Due, enough, tick};
use super::{Inner, OpenBaoBroker};

impl OpenBaoBroker {
    /// Renews leases (and the server's own token) until the server stops.
    pub fn spawn_renewal(&self) -> tokio::task::JoinHandle<()> {
        let inner = Arc::clone(&self.inner);
        let tick = tick(inner.ttl);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(tick);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                inner.renew_token().await;
                inner.renew_due(tick).await;
            }
        })
    }
}

impl Inner {
    pub(super) fn schedule_token(&self, ttl: Option<Duration>) {
        *self
            .token_renew_at
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = ttl.map(|ttl| Instant::now() + ttl * 2 / 3);
    }

    async fn renew_token(&self) {
        let due = self
            .token_renew_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|at| at <= Instant::now());
        if !due {
            return;
        }
        let renewed = match self.client.renew_self().await {
            Ok(ttl) if !ttl.is_zero() => Ok(Some(ttl)),
            // Not renewable any more: log in again where we can.
            _ => self
                .client
                .login()
                .await
                .map(|t| t.ttl.filter(|_| t.renewable)),
        };
        match renewed {
            Ok(ttl) => self.schedule_token(ttl),
            Err(e) => tracing::warn!(error = %e, "could not renew the OpenBAO token; retrying"),
        }
    }

    async fn renew_due(&self, retry_in: Duration) {
        let due: Vec<(String, String, Due)> = self
            .lock()
            .iter()
            .map(|(role, h)| {
                (
                    role.clone(),
                    h.lease_id.clone(),
                    h.times.due(self.ttl, self.max_ttl),
                )
            })
            .filter(|(_, _, due)| *due != Due::Nothing)
            .collect();
        for (role, lease_id, due) in due {
            let renewed = match due {
                Due::Renew => match self.client.renew_lease(&lease_id, self.ttl).await {
                    Ok(granted) if enough(granted, self.ttl) => Some(Ok(granted)),
                    Ok(_) => None,
                    Err(e) if e.is_unavailable() => Some(Err(e)),
                    // Gone or refused: lease a fresh one.
                    Err(_) => None,
                },
                Due::Replace | Due::Nothing => None,
            };
            match renewed {
                Some(Ok(granted)) => {
                    self.renewals.fetch_add(1, Ordering::Relaxed);
                    if let Some(h) = self.lock().get_mut(&role) {
                        h.times.renewed(granted);
                    }
                }
                Some(Err(e)) => {
                    tracing::warn!(%role, error = %e, "lease renewal failed; the current credential stays in use until it expires");
                    self.retry_after(&role, retry_in);
                }
                None => self.rotate(&role, retry_in).await,
            }
        }
    }

    fn retry_after(&self, role: &str, retry_in: Duration) {
        if let Some(h) = self.lock().get_mut(role) {
            h.times.retry_after(retry_in);
        }
    }

    async fn rotate(&self, role: &str, retry_in: Duration) {
        let _one = self.fetching.lock().await;
        match self.client.db_creds(&self.mount, role).await {
            Ok(lease) => {
                // The tenant may have been purged meanwhile.
                if self.lock().contains_key(role) {
                    self.hold(role, lease);
                    self.rotations.fetch_add(1, Ordering::Relaxed);
                } else if let Err(e) = self.client.revoke_lease(&lease.lease_id).await {
                    tracing::warn!(%role, error = %e, "could not revoke an unneeded lease");
                }
            }
            Err(e) => {
                tracing::warn!(%role, error = %e, "could not replace an expiring credential; retrying");
                self.retry_after(role, retry_in);
            }
        }
    }
}
