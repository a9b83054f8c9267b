use eventstore::{Database, WriteTurn, write_turn};
use sqlx::{Postgres, Sqlite, Transaction};

/// A transaction on whichever backend holds the read models: on a pooled connection
/// (`'static`), or on one dedicated connection (rebuilds, whose temporary tables live on
/// that connection only).
pub enum ReadModelTx<'c> {
    /// With this process's turn to write, when it may write (`eventstore::write_turn`).
    Sqlite(Transaction<'c, Sqlite>, Option<WriteTurn>),
    Postgres(Transaction<'c, Postgres>),
}

impl ReadModelTx<'static> {
    /// Begins a transaction that may write. On SQLite it waits for this process's turn to
    /// write, then takes the write lock at once (`BEGIN IMMEDIATE`), so a read-then-write
    /// inside it never fails half-way on a stale snapshot.
    pub async fn begin(database: &Database) -> Result<Self, sqlx::Error> {
        Ok(match database {
            Database::Sqlite(pool) => {
                let turn = write_turn(pool).await;
                Self::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?, Some(turn))
            }
            Database::Postgres(pool) => Self::Postgres(pool.begin().await?),
        })
    }

    /// A read-only transaction that sees one consistent snapshot of the whole database
    /// for all its statements (REPEATABLE READ on PostgreSQL; on SQLite a deferred
    /// transaction's first read fixes its snapshot): for comparing the log with the read
    /// models without a commit landing in between.
    pub async fn begin_snapshot(database: &Database) -> Result<Self, sqlx::Error> {
        Ok(match database {
            Database::Sqlite(pool) => Self::Sqlite(pool.begin().await?, None),
            Database::Postgres(pool) => Self::Postgres(
                pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .await?,
            ),
        })
    }

    /// A transaction for reading only (no write lock on SQLite).
    pub async fn begin_read(database: &Database) -> Result<Self, sqlx::Error> {
        Ok(match database {
            Database::Sqlite(pool) => Self::Sqlite(pool.begin().await?, None),
            Database::Postgres(pool) => Self::Postgres(pool.begin().await?),
        })
    }
}

impl ReadModelTx<'_> {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Self::Sqlite(transaction, _) => transaction.commit().await,
            Self::Postgres(transaction) => transaction.commit().await,
        }
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        match self {
            Self::Sqlite(transaction, _) => transaction.rollback().await,
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
            $crate::ReadModelTx::Sqlite(transaction, _) => {
                sqlx::query($sql)$(.bind($bind))*.execute(&mut **transaction).await.map(|_| ())
            }
            $crate::ReadModelTx::Postgres(transaction) => {
                sqlx::query($sql)$(.bind($bind))*.execute(&mut **transaction).await.map(|_| ())
            }
        }
    };
}

/// Reads every row as `$row` with the same SQL and binds on either backend.
#[macro_export]
macro_rules! fetch_all {
    ($tx:expr, $row:ty, $sql:expr $(, $bind:expr)* $(,)?) => {
        match $tx {
            $crate::ReadModelTx::Sqlite(transaction, _) => {
                sqlx::query_as::<_, $row>($sql)$(.bind($bind))*.fetch_all(&mut **transaction).await
            }
            $crate::ReadModelTx::Postgres(transaction) => {
                sqlx::query_as::<_, $row>($sql)$(.bind($bind))*.fetch_all(&mut **transaction).await
            }
        }
    };
}

/// Reads at most one row as `$row` with the same SQL and binds on either backend.
#[macro_export]
macro_rules! fetch_optional {
    ($tx:expr, $row:ty, $sql:expr $(, $bind:expr)* $(,)?) => {
        match $tx {
            $crate::ReadModelTx::Sqlite(transaction, _) => {
                sqlx::query_as::<_, $row>($sql)$(.bind($bind))*.fetch_optional(&mut **transaction).await
            }
            $crate::ReadModelTx::Postgres(transaction) => {
                sqlx::query_as::<_, $row>($sql)$(.bind($bind))*.fetch_optional(&mut **transaction).await
            }
        }
    };
}
