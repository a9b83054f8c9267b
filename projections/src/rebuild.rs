//! Rebuilding a projection from position 0 without taking it away: the new rows are built
//! in temporary copies of its tables (and of `checkpoints`) on one dedicated connection,
//! where they shadow the live tables by name, so the projection's own SQL runs unchanged.
//! At the end one transaction locks the live checkpoint, applies what arrived meanwhile,
//! replaces the live rows with the rebuilt ones and moves the live checkpoint. Until that
//! commit, readers see the old tables.

use eventstore::{Database, EventLog, LogCursor};
use sqlx::{Connection, PgConnection, SqliteConnection};

use crate::checkpoint::read_checkpoint;
use crate::error::ProjectionError;
use crate::runner::{Projection, Step, step_in};
use crate::transaction::ReadModelTx;

/// Events applied per transaction while rebuilding.
const BATCH: u32 = 2_000;

/// How far a rebuild has come, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RebuildProgress {
    /// Events applied so far.
    pub applied: u64,
    /// Events in the log when the rebuild started (more may arrive).
    pub total: u64,
}

/// What a finished rebuild did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RebuildReport {
    pub applied: u64,
    pub checkpoint: LogCursor,
}

enum Dedicated {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

impl Dedicated {
    /// A transaction for a batch into the shadow tables, which are this connection's own:
    /// on SQLite it takes no lock of the live database, so rebuilds run side by side with
    /// each other and with the live writers.
    async fn begin_shadowed(&mut self) -> Result<ReadModelTx<'_>, sqlx::Error> {
        Ok(match self {
            Self::Sqlite(connection) => ReadModelTx::Sqlite(connection.begin().await?, None),
            Self::Postgres(connection) => ReadModelTx::Postgres(connection.begin().await?),
        })
    }

    /// A transaction that writes the live tables (the swap).
    async fn begin(&mut self) -> Result<ReadModelTx<'_>, sqlx::Error> {
        Ok(match self {
            Self::Sqlite(connection) => {
                // A connection of its own, outside the pool's turns: waits in SQLite's
                // busy handler like a writer of another process.
                ReadModelTx::Sqlite(connection.begin_with("BEGIN IMMEDIATE").await?, None)
            }
            Self::Postgres(connection) => ReadModelTx::Postgres(connection.begin().await?),
        })
    }

    async fn close(self) -> Result<(), sqlx::Error> {
        match self {
            Self::Sqlite(connection) => connection.close().await,
            Self::Postgres(connection) => connection.close().await,
        }
    }
}

/// Rebuilds `projection` from the whole log and swaps the result in; `progress` is called
/// after every batch.
pub async fn rebuild<P: Projection>(
    projection: &P,
    database: &Database,
    mut progress: impl FnMut(RebuildProgress),
) -> Result<RebuildReport, ProjectionError> {
    let total = u64::try_from(
        EventLog::new(database.clone())
            .count_after(LogCursor::default())
            .await?,
    )
    .unwrap_or_default();
    // Detached: the temporary tables must never reach another user of the pool.
    let mut connection = match database {
        Database::Sqlite(pool) => Dedicated::Sqlite(pool.acquire().await?.detach()),
        Database::Postgres(pool) => Dedicated::Postgres(pool.acquire().await?.detach()),
    };
    let result = rebuild_on(&mut connection, projection, total, &mut progress).await;
    // Closing drops the temporary tables; a failed close only leaks them until then.
    if let Err(error) = connection.close().await {
        tracing::warn!(%error, "closing the rebuild connection failed");
    }
    result
}

async fn rebuild_on<P: Projection>(
    connection: &mut Dedicated,
    projection: &P,
    total: u64,
    progress: &mut impl FnMut(RebuildProgress),
) -> Result<RebuildReport, ProjectionError> {
    create_shadow_tables(connection, projection.tables()).await?;
    let mut applied = 0_u64;
    progress(RebuildProgress { applied, total });
    loop {
        let mut tx = connection.begin_shadowed().await?;
        let step = step_in(projection, &mut tx, BATCH).await?;
        tx.commit().await?;
        match step {
            Step::Handled(count) => {
                applied += u64::try_from(count).unwrap_or_default();
                progress(RebuildProgress { applied, total });
            }
            Step::Idle => break,
        }
    }
    let mut tx = connection.begin().await?;
    lock_live_checkpoint(&mut tx, projection.checkpoint_key()).await?;
    // Whatever was committed since the last batch goes in under the lock.
    while let Step::Handled(count) = step_in(projection, &mut tx, BATCH).await? {
        applied += u64::try_from(count).unwrap_or_default();
    }
    let checkpoint = read_checkpoint(&mut tx, projection.checkpoint_key()).await?;
    swap_in(&mut tx, projection.tables()).await?;
    let move_live_checkpoint = match &tx {
        ReadModelTx::Sqlite(..) => {
            "UPDATE main.checkpoints SET transaction_id = $2, position = $3 WHERE name = $1"
        }
        ReadModelTx::Postgres(_) => {
            "UPDATE public.checkpoints SET transaction_id = $2, position = $3 WHERE name = $1"
        }
    };
    crate::execute!(
        &mut tx,
        move_live_checkpoint,
        projection.checkpoint_key(),
        checkpoint.transaction_id,
        checkpoint.position,
    )?;
    tx.commit().await?;
    progress(RebuildProgress { applied, total });
    Ok(RebuildReport {
        applied,
        checkpoint,
    })
}

/// Temporary tables named like the live ones (and an empty `checkpoints`), which this
/// connection's unqualified names resolve to first.
async fn create_shadow_tables(
    connection: &mut Dedicated,
    tables: &[&str],
) -> Result<(), ProjectionError> {
    let shadowed = tables.iter().copied().chain(std::iter::once("checkpoints"));
    match connection {
        Dedicated::Postgres(connection) => {
            for table in shadowed {
                let sql = format!("CREATE TEMP TABLE {table} (LIKE public.{table} INCLUDING ALL)");
                sqlx::query(&sql).execute(&mut *connection).await?;
            }
        }
        Dedicated::Sqlite(connection) => {
            for table in shadowed {
                let definitions: Vec<(String, Option<String>)> = sqlx::query_as(
                    "SELECT type, sql FROM main.sqlite_master WHERE tbl_name = $1 \
                     ORDER BY CASE type WHEN 'table' THEN 0 ELSE 1 END",
                )
                .bind(table)
                .fetch_all(&mut *connection)
                .await?;
                for (kind, sql) in definitions {
                    // Automatic indexes (primary keys, UNIQUE) come with their table.
                    let Some(sql) = sql else { continue };
                    let Some(shadow) = shadow_ddl(&kind, &sql) else {
                        continue;
                    };
                    sqlx::query(&shadow).execute(&mut *connection).await?;
                }
            }
        }
    }
    Ok(())
}

/// The temporary twin of a SQLite `CREATE TABLE` or `CREATE INDEX` statement.
fn shadow_ddl(kind: &str, sql: &str) -> Option<String> {
    match kind {
        "table" => sql
            .strip_prefix("CREATE TABLE ")
            .map(|rest| format!("CREATE TEMP TABLE {rest}")),
        "index" => sql
            .strip_prefix("CREATE INDEX ")
            .map(|rest| format!("CREATE INDEX temp.{rest}")),
        _ => None,
    }
}

async fn lock_live_checkpoint(tx: &mut ReadModelTx<'_>, name: &str) -> Result<(), sqlx::Error> {
    match tx {
        // `BEGIN IMMEDIATE` already holds the database's write lock.
        ReadModelTx::Sqlite(transaction, _) => {
            sqlx::query(
                "INSERT INTO main.checkpoints (name) VALUES ($1) ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .execute(&mut **transaction)
            .await?;
            Ok(())
        }
        ReadModelTx::Postgres(transaction) => {
            sqlx::query(
                "INSERT INTO public.checkpoints (name) VALUES ($1) ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .execute(&mut **transaction)
            .await?;
            sqlx::query("SELECT position FROM public.checkpoints WHERE name = $1 FOR UPDATE")
                .bind(name)
                .execute(&mut **transaction)
                .await?;
            Ok(())
        }
    }
}

/// Replaces the live rows with the rebuilt ones (children emptied first, parents filled
/// first, in case a later migration links them).
async fn swap_in(tx: &mut ReadModelTx<'_>, tables: &[&str]) -> Result<(), sqlx::Error> {
    let (live, shadow) = match tx {
        ReadModelTx::Sqlite(..) => ("main", "temp"),
        ReadModelTx::Postgres(_) => ("public", "pg_temp"),
    };
    for table in tables.iter().rev() {
        let sql = format!("DELETE FROM {live}.{table}");
        crate::execute!(&mut *tx, &sql)?;
    }
    for table in tables {
        let sql = format!("INSERT INTO {live}.{table} SELECT * FROM {shadow}.{table}");
        crate::execute!(&mut *tx, &sql)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::shadow_ddl;

    #[test]
    fn sqlite_tables_and_indexes_get_temporary_twins() {
        assert_eq!(
            shadow_ddl("table", "CREATE TABLE scores\n(id TEXT PRIMARY KEY) STRICT").as_deref(),
            Some("CREATE TEMP TABLE scores\n(id TEXT PRIMARY KEY) STRICT")
        );
        assert_eq!(
            shadow_ddl("index", "CREATE INDEX scores_idx ON scores (id)").as_deref(),
            Some("CREATE INDEX temp.scores_idx ON scores (id)")
        );
        assert_eq!(shadow_ddl("trigger", "CREATE TRIGGER t"), None);
    }
}
