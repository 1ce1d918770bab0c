//! Cancel safety of pooled connections (decision 0009).
//!
//! A future may be dropped at any await: a timeout, a shutdown, an aborted task. A pooled
//! connection dropped in the middle of something that changes its session — a transaction,
//! a session-level advisory lock — must never go back to the pool, where the next borrower
//! (perhaps another tenant's request, in schema mode) would run inside that transaction or
//! behind that lock. sqlx 0.9.0 does not guarantee this on PostgreSQL: a `BEGIN` whose
//! future is dropped in flight stays open and the connection is pooled again (sqlx issue
//! #4393). So every transaction and every session lock of Tenantry goes through this
//! module: a connection that was not brought back to a known state is closed, not reused.

use std::ops::{Deref, DerefMut};

use sqlx::Database;
use sqlx::pool::PoolConnection;

/// A pooled connection whose session may be in a state nobody else may see. Unless
/// [`Unsettled::settle`] is called, dropping it marks the connection to be closed when it
/// is released, instead of returned to the pool.
pub struct Unsettled<'a, DB: Database> {
    conn: &'a mut PoolConnection<DB>,
    settled: bool,
}

impl<'a, DB: Database> Unsettled<'a, DB> {
    pub fn new(conn: &'a mut PoolConnection<DB>) -> Self {
        Unsettled {
            conn,
            settled: false,
        }
    }

    /// The session is back to what any borrower may see.
    pub fn settle(mut self) {
        self.settled = true;
    }
}

impl<DB: Database> Deref for Unsettled<'_, DB> {
    type Target = DB::Connection;
    fn deref(&self) -> &DB::Connection {
        self.conn
    }
}

impl<DB: Database> DerefMut for Unsettled<'_, DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        self.conn
    }
}

impl<DB: Database> Drop for Unsettled<'_, DB> {
    fn drop(&mut self) {
        if !self.settled {
            self.conn.close_on_drop();
        }
    }
}

/// Runs `body` in a transaction on `conn`: committed when it returns `Ok`, rolled back
/// when it returns `Err`. Dropped at any await in between, or failing to commit or roll
/// back, the connection is closed rather than pooled again.
pub async fn transaction<DB, R, E>(
    conn: &mut PoolConnection<DB>,
    body: impl AsyncFnOnce(&mut DB::Connection) -> Result<R, E>,
) -> Result<R, E>
where
    DB: Database,
    E: From<sqlx::Error>,
{
    let mut held = Unsettled::new(conn);
    let mut tx = sqlx::Connection::begin(&mut *held).await?;
    let out = body(&mut tx).await;
    match out {
        Ok(_) => tx.commit().await?,
        Err(_) => {
            if tx.rollback().await.is_err() {
                return out;
            }
        }
    }
    held.settle();
    out
}

/// [`transaction`] on a connection of `pool`.
pub async fn transaction_in<DB, R, E>(
    pool: &sqlx::Pool<DB>,
    body: impl AsyncFnOnce(&mut DB::Connection) -> Result<R, E>,
) -> Result<R, E>
where
    DB: Database,
    E: From<sqlx::Error>,
{
    let mut conn = pool.acquire().await?;
    transaction(&mut conn, body).await
}

#[cfg(test)]
mod tests {
    use sqlx::sqlite::SqlitePoolOptions;

    use super::*;

    /// One connection to a private in-memory database: a table that is still there after
    /// the next acquire proves the connection was reused; one that is gone, that it was
    /// closed.
    async fn one_connection() -> Result<sqlx::SqlitePool, sqlx::Error> {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await?;
        sqlx::query("CREATE TABLE t (x INTEGER)")
            .execute(&pool)
            .await?;
        Ok(pool)
    }

    async fn rows(pool: &sqlx::SqlitePool) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(pool)
            .await
    }

    #[tokio::test]
    async fn committed_and_rolled_back_transactions_keep_their_connection()
    -> Result<(), sqlx::Error> {
        let pool = one_connection().await?;
        transaction_in(&pool, async |tx| {
            sqlx::query("INSERT INTO t VALUES (1)").execute(tx).await?;
            Ok::<_, sqlx::Error>(())
        })
        .await?;
        let failed = transaction_in(&pool, async |tx| {
            sqlx::query("INSERT INTO t VALUES (2)").execute(tx).await?;
            Err::<(), _>(sqlx::Error::RowNotFound)
        })
        .await;
        assert!(matches!(failed, Err(sqlx::Error::RowNotFound)));
        assert_eq!(rows(&pool).await?, 1, "committed once, rolled back once");
        Ok(())
    }

    #[tokio::test]
    async fn a_transaction_dropped_midway_closes_its_connection() -> Result<(), sqlx::Error> {
        let pool = one_connection().await?;
        let (wrote, written) = tokio::sync::oneshot::channel();
        let mut conn = pool.acquire().await?;
        let mut wrote = Some(wrote);
        let stuck = transaction(&mut conn, async |tx| {
            sqlx::query("INSERT INTO t VALUES (1)").execute(tx).await?;
            if let Some(wrote) = wrote.take() {
                let _ = wrote.send(());
            }
            std::future::pending::<Result<(), sqlx::Error>>().await
        });
        tokio::select! {
            _ = stuck => panic!("the body never returns"),
            _ = written => {}
        }
        drop(conn);
        // The next borrower gets a new connection (the table lived in the old one's
        // memory), not the one inside the abandoned transaction.
        let err = rows(&pool).await.err().map(|e| e.to_string());
        assert!(
            err.as_deref().is_some_and(|e| e.contains("no such table")),
            "{err:?}"
        );
        Ok(())
    }

    #[tokio::test]
    async fn an_unsettled_session_is_not_pooled_again() -> Result<(), sqlx::Error> {
        let pool = one_connection().await?;
        let mut conn = pool.acquire().await?;
        Unsettled::new(&mut conn).settle();
        drop(conn);
        assert_eq!(rows(&pool).await?, 0, "settled: the same connection");
        let mut conn = pool.acquire().await?;
        drop(Unsettled::new(&mut conn));
        drop(conn);
        assert!(rows(&pool).await.is_err(), "unsettled: a new connection");
        Ok(())
    }
}
