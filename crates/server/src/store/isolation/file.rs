//! File mode (the embedded backend): each tenant is a SQLite file under `tenants/`,
//! copied from the template file with `VACUUM INTO` and renamed into place, so a file
//! that exists is always complete.

use std::io;
use std::path::{Path, PathBuf};

use tenantry_proto::Isolation;

use super::{At, IsolationMode, Logins, Mode, Op, Pooling, Template};
use crate::store::tenants::{StoreError, TenantStorage};
use crate::store::{Backend, Db, PoolSettings, TenantDb, TenantLocation, sqlite};

pub struct File;

pub static MODE: Mode = Mode::new(
    Isolation::File,
    (Pooling::Tenant, Logins::None),
    &[Backend::Sqlite],
    &File,
);

impl IsolationMode for File {
    fn create<'a>(&'a self, At { st, loc }: At<'a>) -> Op<'a, Option<i64>> {
        Box::pin(async move {
            let fresh = create_file(st, loc).await?;
            Ok((fresh && st.tables().is_current(Template::File)).then(|| st.tables().latest()))
        })
    }

    fn open<'a>(&'a self, At { st, loc }: At<'a>, settings: PoolSettings) -> Op<'a, TenantDb> {
        Box::pin(async move {
            let path = st.layout().tenant_db(&loc.slug);
            if !path.is_file() {
                return Err(StoreError::Missing);
            }
            // Files need no credentials, but the source is still the one that says so.
            let _credentials = st.credentials(loc).await?;
            Ok(TenantDb::whole(sqlite::open(&path, settings, false).await?))
        })
    }

    fn destroy<'a>(&'a self, At { st, loc }: At<'a>) -> Op<'a, bool> {
        Box::pin(async move {
            let mut removed = false;
            let staging = st.layout().tenant_db_staging(&loc.slug);
            for path in files(st, loc).into_iter().chain([staging]) {
                removed |= remove_if_exists(&path).await?;
            }
            Ok(removed)
        })
    }

    fn exists<'a>(&'a self, At { st, loc }: At<'a>) -> Op<'a, bool> {
        Box::pin(async move { Ok(files(st, loc).iter().any(|p| p.exists())) })
    }

    fn size<'a>(&'a self, At { st, loc }: At<'a>) -> Op<'a, Option<u64>> {
        Box::pin(async move {
            let mut total = 0;
            for path in files(st, loc) {
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
fn files(st: &TenantStorage, loc: &TenantLocation) -> [PathBuf; 3] {
    let main = st.layout().tenant_db(&loc.slug);
    let (wal, shm) = (with_suffix(&main, "-wal"), with_suffix(&main, "-shm"));
    [main, wal, shm]
}

/// Returns whether a new file was made (rather than one found from an earlier attempt).
async fn create_file(st: &TenantStorage, loc: &TenantLocation) -> Result<bool, StoreError> {
    let layout = st.layout();
    let target = layout.tenant_db(&loc.slug);
    if target.is_file() {
        return Ok(false);
    }
    tokio::fs::create_dir_all(layout.tenants_dir()).await?;
    let staging = layout.tenant_db_staging(&loc.slug);
    remove_if_exists(&staging).await?;
    {
        // Copies read the template; migrations write it. They never overlap.
        let _read = st.file_template_lock().lock().await;
        let template = open_template_unlocked(st).await?;
        let copied = sqlite::copy_to(&template, &staging).await;
        template.close().await;
        copied?;
    }
    tokio::fs::rename(&staging, &target).await?;
    Ok(true)
}

/// Runs `body` on the template file (created if missing), with copies held off.
pub async fn with_file_template<T>(
    st: &TenantStorage,
    body: impl AsyncFnOnce(&TenantDb) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let _write = st.file_template_lock().lock().await;
    let template = TenantDb::whole(open_template_unlocked(st).await?);
    let result = body(&template).await;
    template.db().close().await;
    result
}

async fn open_template_unlocked(st: &TenantStorage) -> Result<Db, StoreError> {
    let layout = st.layout();
    tokio::fs::create_dir_all(layout.root()).await?;
    let one = PoolSettings {
        max_connections: 1,
        ..st.settings()
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
