//! Finishing what a crash or a fault left half done: creations and deletions that made no
//! progress, and schema tenants not yet admitted to their instance's router.

use super::*;

impl Provisioner {
    /// Finishes every lifecycle transition a crash left half done.
    pub async fn reconcile(&self) -> Result<ReconcileReport, ProvisionError> {
        let mut report = ReconcileReport::default();
        let records = self.catalog.all_tenants().await?;
        for record in &records {
            self.settle(record, None, &mut report).await;
        }
        self.admit_schema_tenants(&records).await?;
        Ok(report)
    }

    /// Finishes (or rolls back) the creations and deletions that have made no progress
    /// for `stale`: those a failure left half-way (an unreachable instance or OpenBAO),
    /// not those another request or another server is running now.
    pub async fn reconcile_stuck(&self, stale: std::time::Duration) -> ReconcileReport {
        let mut report = ReconcileReport::default();
        let cutoff = Utc::now() - chrono::Duration::from_std(stale).unwrap_or_default();
        let Ok(records) = self.catalog.unsettled_tenants(cutoff).await else {
            return report;
        };
        for record in &records {
            self.settle(record, Some(cutoff), &mut report).await;
        }
        report
    }

    /// Finishes one unsettled tenant, unless an operation holds it (here or on another
    /// server: it is being finished) or, with `cutoff`, it moved since. Its record is read
    /// again under the lock: what was read before may be finished already.
    async fn settle(
        &self,
        record: &TenantRecord,
        cutoff: Option<DateTime<Utc>>,
        report: &mut ReconcileReport,
    ) {
        if !matches!(
            record.status,
            TenantStatus::Provisioning | TenantStatus::Deleting
        ) {
            return;
        }
        let slug = match record.location() {
            Ok(loc) => loc.slug,
            Err(e) => {
                report.failed.push((record.slug.clone(), e.to_string()));
                return;
            }
        };
        let held = match self.locks.try_lock(&slug).await {
            Ok(Some(held)) => held,
            Ok(None) => return,
            Err(e) => {
                report.failed.push((record.slug.clone(), e.to_string()));
                return;
            }
        };
        let outcome = match self.catalog.tenant(&record.slug).await {
            Ok(Some(current))
                if current.id == record.id && cutoff.is_none_or(|c| current.updated_at <= c) =>
            {
                match current.status {
                    TenantStatus::Provisioning => self
                        .finish_provisioning(&current)
                        .await
                        .map(|_| Some(&mut report.provisioned)),
                    TenantStatus::Deleting => {
                        self.purge(&current).await.map(|_| Some(&mut report.purged))
                    }
                    TenantStatus::Active | TenantStatus::Suspended => Ok(None),
                }
            }
            Ok(_) => Ok(None),
            Err(e) => Err(e.into()),
        };
        held.release().await;
        match outcome {
            Ok(Some(list)) => list.push(record.slug.clone()),
            Ok(None) => {}
            Err(e) => report.failed.push((record.slug.clone(), e.to_string())),
        }
    }

    /// Schema tenants from before decision 0008 are not yet reachable through their
    /// instance's router login: admit them (a membership each; nothing else changes).
    /// `records` as reconcile read them: tenants it finished provisioning were admitted
    /// when their schema was created.
    async fn admit_schema_tenants(&self, records: &[TenantRecord]) -> Result<(), ProvisionError> {
        if self.storage.tenant_roles() != TenantRoles::Own {
            return Ok(());
        }
        let mut by_instance: BTreeMap<String, Vec<TenantLocation>> = BTreeMap::new();
        for record in records {
            if mode(record.isolation).logins() == Logins::Instance
                && matches!(
                    record.status,
                    TenantStatus::Active | TenantStatus::Suspended
                )
            {
                let loc = location(record)?;
                by_instance
                    .entry(loc.instance.clone())
                    .or_default()
                    .push(loc);
            }
        }
        for (instance, tenants) in &by_instance {
            match self.storage.admit_to_schema_login(instance, tenants).await {
                Ok(admitted) => {
                    for loc in admitted {
                        tracing::info!(tenant = %loc.slug, "schema tenant admitted to its instance's router role");
                    }
                }
                // Their requests fail until the next reconcile; the rest of the start goes on.
                Err(e) => {
                    tracing::error!(%instance, tenants = tenants.len(), error = %e, "could not admit schema tenants to the router role")
                }
            }
        }
        Ok(())
    }
}
