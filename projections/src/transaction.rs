use eventstore::Database;
use sqlx::{Postgres, Sqlite, Transaction};

/// A transaction on whichever backend holds the read models.
pub enum ReadModelTx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

impl ReadModelTx {
    /// Begins a transaction that may write. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so a read-then-write inside it never fails half-way on a
    /// stale snapshot.
    pub async fn begin(database: &Database) -> Result<Self, sqlx::Error> {
        Ok(match database {
            Database::Sqlite(pool) => Self::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            Database::Postgres(pool) => Self::Postgres(pool.begin().await?),
        })
    }

    /// A transaction for reading only (no write lock on SQLite).
    pub async fn begin_read(database: &Database) -> Result<Self, sqlx::Error> {
        Ok(match database {
            Database::Sqlite(pool) => Self::Sqlite(pool.begin().await?),
            Database::Postgres(pool) => Self::Postgres(pool.begin().await?),
        })
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Self::Sqlite(transaction) => transaction.commit().await,
            Self::Postgres(transaction) => transaction.commit().await,
        }
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        match self {
            Self::Sqlite(transaction) => transaction.rollback().await,
            Self::Postgres(transaction) => transaction.rollback().await,
        }
    }
}

/// Runs one statement with the same SQL and binds on either backend (ids and text as
/// `String`, numbers as `i64`, so both drivers encode them alike).
#[macro_export]
macro_rules! execute {
    ($tx:expr, $sql:expr $(, $bind:expr)* $(,)?) => {
        match $tx {
            $crate::ReadModelTx::Sqlite(transaction) => {
                sqlx::query($sql)$(.bind($bind))*.execute(&mut **transaction).await.map(|_| ())
            }
            $crate::ReadModelTx::Postgres(transaction) => {
                sqlx::query($sql)$(.bind($bind))*.execute(&mut **transaction).await.map(|_| ())
            }
        }
    };
}
