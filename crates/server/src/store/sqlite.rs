//! Opening SQLite databases the way a durable embedded deployment needs them.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::{Db, PoolSettings};

/// How long a writer waits for another writer's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens a pool on a SQLite file in WAL mode with a busy timeout and foreign keys on.
///
/// With `create` false a missing file is an error rather than a new empty database: a
/// purged tenant must never come back to life as an empty file.
pub async fn open(path: &Path, settings: PoolSettings, create: bool) -> Result<Db, sqlx::Error> {
    let options = SqliteConnectOptions::from_str("sqlite://")?
        .filename(path)
        .create_if_missing(create)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(BUSY_TIMEOUT)
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(settings.max_connections)
        .min_connections(0)
        .idle_timeout(Some(settings.idle_timeout))
        .acquire_timeout(settings.acquire_timeout)
        .connect_with(options)
        .await?;
    Ok(Db::Sqlite(pool))
}

/// Writes a consistent copy of the database behind `db` to `dest` (which must not exist).
pub async fn copy_to(db: &Db, dest: &Path) -> Result<(), sqlx::Error> {
    let dest = dest.to_str().ok_or_else(|| {
        sqlx::Error::Configuration("the data directory path is not valid UTF-8".into())
    })?;
    let Db::Sqlite(pool) = db else {
        return Err(sqlx::Error::Configuration(
            "VACUUM INTO is for SQLite databases".into(),
        ));
    };
    // The target is bound, not formatted in: VACUUM INTO takes any string expression.
    sqlx::query("VACUUM INTO $1")
        .bind(dest)
        .execute(pool)
        .await?;
    Ok(())
}
