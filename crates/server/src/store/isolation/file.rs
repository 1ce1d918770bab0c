//! File mode (the embedded backend): each tenant is a SQLite file under `tenants/`,
//! copied from the template file with `VACUUM INTO` and renamed into place, so a file
//! that exists is always complete.

use std::io;
use std::path::{Path, PathBuf};

use futures_util::future::BoxFuture;
use tenantry_proto::Isolation;

use super::{IsolationMode, Logins, Pooling, Template, TenantTables};
use crate::store::tenants::{StoreError, TenantStorage};
use crate::store::{Backend, Db, PoolSettings, TenantDb, TenantLocation, sqlite};

pub struct File;

impl IsolationMode for File {
    fn isolation(&self) -> Isolation {
        Isolation::File
    }

    fn available_on(&self, backend: Backend) -> bool {
        backend == Backend::Sqlite
    }

    fn pooling(&self) -> Pooling {
        Pooling::Tenant
    }

    fn logins(&self) -> Logins {
        Logins::None
    }

    fn create<'a>(
        &'a self,
        storage: &'a TenantStorage,
        loc: &'a TenantLocation,
        tables: &'a dyn TenantTables,
    ) -> BoxFuture<'a, Result<Option<i64>, StoreError>> {
        Box::pin(async move {
            let fresh = create_file(storage, loc).await?;
            Ok((fresh && tables.is_current(Template::File)).then(|| tables.latest()))
        })
    }

    fn open<'a>(
        &'a self,
        storage: &'a TenantStorage,
        loc: &'a TenantLocation,
        settings: PoolSettings,
    ) -> BoxFuture<'a, Result<TenantDb, StoreError>> {
        Box::pin(async move {
            let path = storage.layout().tenant_db(&loc.slug);
            if !path.is_file() {
                return Err(StoreError::Missing);
            }
            // Files need no credentials, but the source is still the one that says so.
            let _credentials = storage.credentials(loc).await?;
            Ok(TenantDb::whole(sqlite::open(&path, settings, false).await?))
        })
    }

    fn destroy<'a>(
        &'a self,
        storage: &'a TenantStorage,
        loc: &'a TenantLocation,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut removed = false;
            let staging = storage.layout().tenant_db_staging(&loc.slug);
            for path in files(storage, loc).into_iter().chain([staging]) {
                removed |= remove_if_exists(&path).await?;
            }
            Ok(removed)
        })
    }

    fn exists<'a>(
        &'a self,
        storage: &'a TenantStorage,
        loc: &'a TenantLocation,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move { Ok(files(storage, loc).iter().any(|p| p.exists())) })
    }

    fn size<'a>(
        &'a self,
        storage: &'a TenantStorage,
        loc: &'a TenantLocation,
    ) -> BoxFuture<'a, Result<Option<u64>, StoreError>> {
        Box::pin(async move {
            let mut total = 0;
            for path in files(storage, loc) {
                match tokio::fs::metadata(&path).await {
                    Ok(meta) => total += meta.len(),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(Some(total))
        })
    }
}

/// The database file and its WAL companions.
fn files(storage: &TenantStorage, loc: &TenantLocation) -> [PathBuf; 3] {
    let main = storage.layout().tenant_db(&loc.slug);
    let (wal, shm) = (with_suffix(&main, "-wal"), with_suffix(&main, "-shm"));
    [main, wal, shm]
}

/// Returns whether a new file was made (rather than one found from an earlier attempt).
async fn create_file(storage: &TenantStorage, loc: &TenantLocation) -> Result<bool, StoreError> {
    let layout = storage.layout();
    let target = layout.tenant_db(&loc.slug);
    if target.is_file() {
        return Ok(false);
    }
    tokio::fs::create_dir_all(layout.tenants_dir()).await?;
    let staging = layout.tenant_db_staging(&loc.slug);
    remove_if_exists(&staging).await?;
    {
        // Copies read the template; migrations write it. They never overlap.
        let _read = storage.file_template_lock().lock().await;
        let template = open_template_unlocked(storage).await?;
        let copied = sqlite::copy_to(&template, &staging).await;
        template.close().await;
        copied?;
    }
    tokio::fs::rename(&staging, &target).await?;
    Ok(true)
}

/// Runs `body` on the template file (created if missing), with copies held off.
pub async fn with_file_template<T>(
    storage: &TenantStorage,
    body: impl AsyncFnOnce(&TenantDb) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let _write = storage.file_template_lock().lock().await;
    let template = TenantDb::whole(open_template_unlocked(storage).await?);
    let result = body(&template).await;
    template.db().close().await;
    result
}

async fn open_template_unlocked(storage: &TenantStorage) -> Result<Db, StoreError> {
    let layout = storage.layout();
    tokio::fs::create_dir_all(layout.root()).await?;
    let one = PoolSettings {
        max_connections: 1,
        ..storage.settings()
    };
    Ok(sqlite::open(&layout.template_db(), one, true).await?)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    s.into()
}

async fn remove_if_exists(path: &Path) -> io::Result<bool> {
    match tokio::fs::remove_file(path).await {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}
