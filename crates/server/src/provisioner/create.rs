//! Creating a tenant: registry row first (`provisioning`), then storage from the template,
//! credentials, the tenant chain and the media directory, then `active`.

use super::*;

impl Provisioner {
    /// Creates a tenant: registry row, storage from the template, tenant chain, media
    /// directory, then `active`. On failure everything created is rolled back.
    pub async fn create(
        &self,
        slug: &Slug,
        display_name: &str,
        wish: &PlacementWish,
        plan: Option<&str>,
        actor: &Actor,
    ) -> Result<TenantRecord, ProvisionError> {
        self.exclusively(slug, async || {
            self.create_locked(slug, display_name, wish, plan, actor)
                .await
        })
        .await
    }

    async fn create_locked(
        &self,
        slug: &Slug,
        display_name: &str,
        wish: &PlacementWish,
        plan: Option<&str>,
        actor: &Actor,
    ) -> Result<TenantRecord, ProvisionError> {
        self.refuse_taken(slug).await?;
        let (isolation, instance) = self.place(wish).await?;
        let record = self
            .catalog
            .insert_tenant(&NewTenant {
                id: Uuid::now_v7(),
                slug: slug.as_str().to_owned(),
                display_name: display_name.to_owned(),
                status: TenantStatus::Provisioning,
                isolation,
                instance,
                physical_name: slug.physical_name(),
                plan: plan.map(str::to_owned),
            })
            .await
            .map_err(|e| match e {
                CatalogError::Conflict(_) => ProvisionError::Exists(slug.to_string()),
                other => other.into(),
            })?;
        self.audit(
            actor,
            "tenant.create",
            &record,
            json!({ "isolation": record.isolation, "instance": record.instance }),
        )
        .await?;
        self.step(&record, Step::Registered).await?;
        match self.finish_provisioning(&record).await {
            Ok(record) => Ok(record),
            Err(e) => {
                tracing::error!(tenant = %slug, error = %e, "provisioning failed; rolling back");
                // Marked for deletion first, so a rollback that cannot finish now (the
                // instance is down) is finished by reconcile instead of revived.
                if let Err(mark) = self
                    .catalog
                    .set_status(
                        record.id,
                        TenantStatus::Provisioning,
                        TenantStatus::Deleting,
                    )
                    .await
                {
                    tracing::error!(tenant = %slug, error = %mark, "could not mark the failed tenant for deletion");
                }
                if let Err(rollback) = self.purge(&record).await {
                    tracing::error!(tenant = %slug, error = %rollback, "rollback incomplete; `tenantry tenants reconcile` will finish it");
                }
                Err(e)
            }
        }
    }

    /// Chooses isolation and instance for a new tenant.
    async fn place(&self, wish: &PlacementWish) -> Result<(Isolation, String), ProvisionError> {
        let isolation = wish.isolation.unwrap_or(self.default_isolation);
        let backend = self.backend();
        if !isolation.available_on(backend) {
            return Err(ProvisionError::IsolationUnsupported(
                isolation,
                choices_on(backend),
            ));
        }
        if backend == Backend::Sqlite {
            if wish.constraint != Constraint::default()
                && wish.constraint.instance.as_deref() != Some(EMBEDDED_INSTANCE)
            {
                return Err(NoMatch::NoneMatch(wish.constraint.clone()).into());
            }
            return Ok((isolation, EMBEDDED_INSTANCE.to_owned()));
        }
        let counts: std::collections::HashMap<String, i64> = self
            .catalog
            .tenants_per_instance()
            .await?
            .into_iter()
            .collect();
        let candidates: Vec<Candidate<'_>> = self
            .storage
            .instances()
            .map(|i| Candidate {
                name: &i.name,
                region: &i.region,
                labels: &i.labels,
                max_tenants: i.max_tenants,
                tenants: counts.get(&i.name).copied().unwrap_or(0).max(0) as u64,
            })
            .collect();
        let chosen = scheduler::place(&candidates, &wish.constraint)?;
        Ok((isolation, chosen.to_owned()))
    }

    /// Tenants go to PostgreSQL instances when any are configured, else to the embedded
    /// backend.
    fn backend(&self) -> Backend {
        if self.storage.instances().next().is_some() {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }

    /// Ensures the built-in tenant exists (in its own file, or collapsed onto the registry).
    pub async fn ensure_default(&self, collapsed: bool) -> Result<TenantRecord, ProvisionError> {
        let slug = Slug::default_tenant();
        // Replicas starting together on a new registry: one creates it, the others wait.
        let held = self.locks.lock(&slug).await?;
        let outcome = self.ensure_default_locked(&slug, collapsed).await;
        held.release().await;
        outcome
    }

    async fn ensure_default_locked(
        &self,
        slug: &Slug,
        collapsed: bool,
    ) -> Result<TenantRecord, ProvisionError> {
        let record = match self.catalog.tenant(slug.as_str()).await? {
            Some(record) => record,
            None => {
                let (isolation, instance) = if collapsed {
                    (Isolation::Collapsed, EMBEDDED_INSTANCE.to_owned())
                } else {
                    self.place(&PlacementWish::default()).await?
                };
                let record = self
                    .catalog
                    .insert_tenant(&NewTenant {
                        id: Uuid::now_v7(),
                        slug: slug.as_str().to_owned(),
                        display_name: "Default".into(),
                        status: TenantStatus::Provisioning,
                        isolation,
                        instance,
                        physical_name: if collapsed {
                            "registry".into()
                        } else {
                            slug.physical_name()
                        },
                        plan: None,
                    })
                    .await?;
                self.audit(
                    &Actor::system(),
                    "tenant.create",
                    &record,
                    json!({ "builtin": true }),
                )
                .await?;
                record
            }
        };
        if record.status == TenantStatus::Provisioning {
            return self.finish_provisioning(&record).await;
        }
        Ok(record)
    }

    /// The idempotent steps after the registry row exists.
    pub(super) async fn finish_provisioning(
        &self,
        record: &TenantRecord,
    ) -> Result<TenantRecord, ProvisionError> {
        let loc = location(record)?;
        let created = self.storage.create(&loc).await?;
        self.step(record, Step::Storage).await?;
        self.broker
            .provision(&loc)
            .await
            .map_err(StoreError::from)?;
        self.step(record, Step::Credentials).await?;
        let version = match created {
            Some(version) => version,
            // Storage from an earlier attempt, or a template of unknown age: look.
            None => {
                let db = self.storage.open(&loc, None).await?;
                let migrated = migrator::apply_tenant(&db, &self.chains).await;
                self.storage.release(&loc, db).await;
                migrated?.1.current
            }
        };
        self.catalog
            .record_version(record.id, Chain::Tenant, version)
            .await?;
        self.step(record, Step::Migrated).await?;
        // Uploads that landed after an earlier tenant of this slug was purged (on another
        // replica) are out of this one's reach already; sweep them all the same.
        let swept = self.media.sweep_earlier(&loc.slug, record.id).await?;
        if swept > 0 {
            tracing::info!(tenant = %loc.slug, objects = swept, "removed media an earlier tenant of this slug left");
        }
        self.step(record, Step::Media).await?;
        self.catalog
            .set_status(record.id, TenantStatus::Provisioning, TenantStatus::Active)
            .await
            .map_err(|e| busy_if_changed(e, &record.slug))?;
        self.catalog.set_step(record.id, None).await?;
        self.routing.publish_tenant(&record.slug).await?;
        self.catalog
            .tenant(&record.slug)
            .await?
            .ok_or_else(|| ProvisionError::NotFound(record.slug.clone()))
    }
}

/// The isolation modes placeable on `backend`, as a message lists them.
fn choices_on(backend: Backend) -> String {
    let names: Vec<String> = placeable_on(backend)
        .iter()
        .map(|i| format!("`{i}`"))
        .collect();
    let place = match backend {
        Backend::Sqlite => "the embedded backend",
        Backend::Postgres => "PostgreSQL",
    };
    format!("{} on {place}", names.join(" or "))
}
