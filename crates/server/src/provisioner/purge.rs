//! Deleting a tenant: refused from then on, its requests finished, every trace removed and
//! verified gone, and only then the slug freed.

use super::*;

impl Provisioner {
    /// Deletes a tenant: refused from now on, then purged and verified.
    pub async fn delete(&self, slug: &Slug, actor: &Actor) -> Result<PurgeReport, ProvisionError> {
        if slug.is_default() {
            return Err(ProvisionError::Protected(slug.to_string()));
        }
        self.exclusively(slug, async || self.delete_locked(slug, actor).await)
            .await
    }

    async fn delete_locked(
        &self,
        slug: &Slug,
        actor: &Actor,
    ) -> Result<PurgeReport, ProvisionError> {
        let record = self.record(slug).await?;
        // A delete that did not finish is finished by running it again.
        if record.status != TenantStatus::Deleting {
            self.catalog
                .set_status(record.id, record.status, TenantStatus::Deleting)
                .await
                .map_err(|e| busy_if_changed(e, &record.slug))?;
        }
        // From here on no request resolves to the tenant.
        self.routing.publish_tenant(&record.slug).await?;
        self.step(&record, Step::Deleting).await?;
        self.audit(actor, "tenant.delete", &record, json!({}))
            .await?;
        let report = self.purge(&record).await?;
        self.audit(
            actor,
            "tenant.purged",
            &record,
            serde_json::to_value(&report).unwrap_or_default(),
        )
        .await?;
        Ok(report)
    }

    /// Removes every trace of the tenant, verifies nothing is left, and only then frees the
    /// slug by deleting the registry row.
    pub(super) async fn purge(&self, record: &TenantRecord) -> Result<PurgeReport, ProvisionError> {
        let began = Utc::now();
        let loc = location(record)?;
        // Requests that hold its storage finish first; no new one gets it.
        self.pools.retire(record.id).await;
        // Every step runs even when an earlier one fails (OpenBAO down must not keep the
        // database around); the first failure is reported and reconcile finishes the rest.
        // Leases first: their logins end before the storage they could reach goes.
        let revoked = self
            .broker
            .revoke(&loc)
            .await
            .map_err(|e| ProvisionError::from(StoreError::from(e)));
        if revoked.is_ok() {
            self.step(record, Step::CredentialsRevoked).await?;
        }
        let storage_removed = self.storage.destroy(&loc).await;
        if storage_removed.is_ok() {
            self.step(record, Step::StorageDropped).await?;
        }
        let media_removed = self
            .media
            .purge(&loc.slug)
            .await
            .map(|objects| objects > 0)
            .map_err(ProvisionError::from);
        if media_removed.is_ok() {
            self.step(record, Step::MediaRemoved).await?;
        }
        // Its keys in Redis (rate budgets); they expire by themselves too, within a second
        // or so, but a verified purge does not wait for that.
        let cache_keys_removed = match &self.cache {
            Some(cache) => cache
                .purge_tenant(&loc.slug)
                .await
                .map_err(ProvisionError::from),
            None => Ok(0),
        };
        revoked?;
        let storage_removed = storage_removed?;
        let media_removed = media_removed?;
        let cache_keys_removed = cache_keys_removed?;
        let unverified = |what| ProvisionError::PurgeUnverified {
            slug: record.slug.clone(),
            what,
        };
        if self.storage.exists(&loc).await? {
            return Err(unverified("the tenant database"));
        }
        if self.storage.group_role_exists(&loc).await? {
            return Err(unverified("the tenant's group role"));
        }
        if let Some(what) = self.broker.residue(&loc).await.map_err(StoreError::from)? {
            return Err(unverified(what));
        }
        if self.media.residue(&loc.slug).await? {
            return Err(unverified("the tenant's media"));
        }
        if let Some(cache) = &self.cache
            && !cache.tenant_keys(&loc.slug).await?.is_empty()
        {
            return Err(unverified("the tenant's Redis keys"));
        }
        self.step(record, Step::Verified).await?;
        after_the_second_of(began).await;
        let domains_removed = self.catalog.delete_tenant(record.id).await?;
        if self.catalog.tenant_leftovers(record.id).await? != 0 {
            return Err(unverified("registry data"));
        }
        self.routing.publish_tenant(&record.slug).await?;
        Ok(PurgeReport {
            slug: record.slug.clone(),
            storage_removed,
            media_removed,
            domains_removed,
            cache_keys_removed,
            verified: true,
        })
    }
}

/// Returns once the clock has left the second `moment` fell in. The slug is freed only
/// then, so every token issued to the tenant being purged (it was refused before `moment`)
/// has an `iat` older than the creation of any later tenant of that slug, and tokens that
/// carry no tenant id are still told apart by `iat` (DESIGN.md §4, decision 0010).
async fn after_the_second_of(moment: DateTime<Utc>) {
    let next_second_ms = (moment.timestamp() + 1) * 1000;
    let wait = next_second_ms - Utc::now().timestamp_millis();
    if let Ok(wait) = u64::try_from(wait)
        && wait > 0
    {
        tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
    }
}
