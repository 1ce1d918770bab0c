//! `tenantry verify-routing`: proves from the databases themselves that every tenant's hosts
//! are in that tenant's storage and nowhere else — not in another tenant, not in the
//! registry or shared database, not in a template.

use std::collections::HashMap;

use tenantry_proto::{Isolation, TenantStatus};
use uuid::Uuid;

use crate::core::Core;
use crate::fleet::hosts;
use crate::store::{Conn, Db, PoolSettings, TenantDataError, TenantDb};
use crate::with_conn;

/// One tenant's line of the report.
#[derive(Debug, Clone)]
pub struct Row {
    pub tenant: String,
    pub instance: String,
    pub isolation: Isolation,
    pub status: TenantStatus,
    pub hosts: Option<usize>,
    pub templates: Option<i64>,
    pub sessions: Option<i64>,
    pub error: Option<String>,
}

/// What one tenant's own storage holds.
struct Contents {
    hosts: Vec<Uuid>,
    templates: i64,
    sessions: i64,
    targets: std::collections::HashSet<Uuid>,
}

async fn contents(db: &TenantDb) -> Result<Contents, TenantDataError> {
    Ok(Contents {
        hosts: hosts::ids(db).await?,
        templates: crate::fleet::session_templates::count(db).await?,
        sessions: crate::fleet::sessions::count(db).await?,
        targets: crate::fleet::sessions::target_ids(db).await?,
    })
}

#[derive(Debug, Default)]
pub struct Report {
    pub rows: Vec<Row>,
    /// Every host found where it does not belong.
    pub misplaced: Vec<String>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.misplaced.is_empty() && self.rows.iter().all(|r| r.error.is_none())
    }
}

pub async fn run(core: &Core) -> Result<Report, crate::catalog::CatalogError> {
    let mut report = Report::default();
    let mut owner: HashMap<Uuid, String> = HashMap::new();
    let one = PoolSettings {
        max_connections: 1,
        ..core.pool_settings()
    };
    let collapsed = !core.config.multitenancy.enabled;
    for record in core.catalog.all_tenants().await? {
        let mut row = Row {
            tenant: record.slug.clone(),
            instance: record.instance.clone(),
            isolation: record.isolation,
            status: record.status,
            hosts: None,
            templates: None,
            sessions: None,
            error: None,
        };
        if matches!(
            record.status,
            TenantStatus::Provisioning | TenantStatus::Deleting
        ) {
            report.rows.push(row);
            continue;
        }
        let ids = match record.location() {
            Ok(loc) => match core.storage.open(&loc, Some(one)).await {
                Ok(db) => {
                    let found = contents(&db).await.map_err(|e| e.to_string());
                    core.storage.release(&loc, db).await;
                    found
                }
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(e.to_string()),
        };
        match ids {
            Ok(found) => {
                row.hosts = Some(found.hosts.len());
                row.templates = Some(found.templates);
                row.sessions = Some(found.sessions);
                let own: std::collections::HashSet<Uuid> = found.hosts.iter().copied().collect();
                for target in found.targets.difference(&own) {
                    report.misplaced.push(format!(
                        "a session of tenant {} targets {target}, which is not one of its hosts",
                        record.slug
                    ));
                }
                for id in found.hosts {
                    if let Some(first) = owner.insert(id, record.slug.clone()) {
                        report.misplaced.push(format!(
                            "host {id} is in tenant {first} and in tenant {}",
                            record.slug
                        ));
                    }
                }
            }
            Err(e) => row.error = Some(e),
        }
        report.rows.push(row);
    }

    // Places that must hold no tenant data at all.
    let mut elsewhere: Vec<(String, TenantDb)> = Vec::new();
    if !collapsed {
        elsewhere.push((
            "the registry database".into(),
            TenantDb::whole(core.registry.clone()),
        ));
    }
    if core.shared_is_separate() {
        elsewhere.push((
            "the shared database".into(),
            TenantDb::whole(core.shared.clone()),
        ));
    }
    let mut opened: Vec<Db> = Vec::new();
    let template = core.layout.template_db();
    if !core.config.is_postgres()
        && template.is_file()
        && let Ok(db) = crate::store::sqlite::open(&template, one, false).await
    {
        opened.push(db.clone());
        elsewhere.push(("the tenant template".into(), TenantDb::whole(db)));
    }
    if core.config.is_postgres() {
        for instance in core.storage.instances() {
            for database in [
                crate::names::TEMPLATE_DATABASE,
                crate::names::SCHEMAS_DATABASE,
            ] {
                if let Ok(Db::Postgres(pool)) =
                    crate::store::postgres::open(instance.database(database), one).await
                {
                    opened.push(Db::Postgres(pool.clone()));
                    elsewhere.push((
                        format!("{database} on {}", instance.name),
                        TenantDb::whole(Db::Postgres(pool)),
                    ));
                }
            }
        }
    }
    for (place, db) in &elsewhere {
        match stray_hosts(db).await {
            Ok(ids) => {
                for id in ids {
                    let whose = owner
                        .get(&id)
                        .map(|t| format!(" (tenant {t}'s)"))
                        .unwrap_or_default();
                    report
                        .misplaced
                        .push(format!("host {id}{whose} is in {place}"));
                }
            }
            Err(e) => report
                .misplaced
                .push(format!("could not check {place}: {e}")),
        }
    }
    for db in opened {
        db.close().await;
    }
    Ok(report)
}

/// Host ids in a `hosts` table reachable without a tenant schema (none, if no such table).
async fn stray_hosts(db: &TenantDb) -> Result<Vec<Uuid>, TenantDataError> {
    let mut conn = db.acquire().await?;
    let exists = match &mut conn {
        Conn::Sqlite(c) => sqlx::query_scalar::<_, String>(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'hosts'",
        )
        .fetch_optional(&mut **c)
        .await?
        .is_some(),
        Conn::Postgres(c) => {
            sqlx::query_scalar::<_, bool>("SELECT to_regclass('public.hosts') IS NOT NULL")
                .fetch_one(&mut **c)
                .await?
        }
    };
    if !exists {
        return Ok(Vec::new());
    }
    Ok(
        with_conn!(&mut conn, c => sqlx::query_scalar("SELECT id FROM hosts").fetch_all(&mut *c).await?),
    )
}
