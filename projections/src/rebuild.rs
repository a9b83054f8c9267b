//! Rebuilding projections from position 0 without taking them away: the new rows are built
//! in temporary copies of their tables on one dedicated connection, where they shadow the
//! live tables by name, so the projections' own SQL runs unchanged. The log is read once,
//! a batch ahead on a connection of its own, each batch applied by every projection being
//! rebuilt. At the end one transaction locks the live checkpoints, applies what arrived
//! meanwhile, replaces the live rows with the rebuilt ones and moves the live checkpoints.
//! Until that commit, readers see the old tables.

use std::future::Future;
use std::pin::Pin;

use eventstore::{
    Database, EventLog, LogCursor, RecordedEvent, read_after_postgres, read_after_sqlite,
};
use sqlx::{Connection, PgConnection, SqliteConnection};

use crate::error::ProjectionError;
use crate::runner::Projection;
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

    /// Fresh statistics of the shadow tables' keys (`analyzed`, from [`key_statistics`]),
    /// which grow from nothing to the whole read model. PostgreSQL never analyses
    /// temporary tables by itself, and without statistics it read the whole table for each
    /// batch's `WHERE id IN (…)` (three quarters of a `scores` rebuild); run as the tables
    /// double, on the key columns alone, it costs a few small samples in all.
    async fn analyze(&mut self, analyzed: Option<&str>) -> Result<(), sqlx::Error> {
        if let (Self::Postgres(connection), Some(sql)) = (self, analyzed) {
            sqlx::query(sql).execute(&mut *connection).await?;
        }
        Ok(())
    }

    async fn close(self) -> Result<(), sqlx::Error> {
        match self {
            Self::Sqlite(connection) => connection.close().await,
            Self::Postgres(connection) => connection.close().await,
        }
    }
}

/// One projection among those a rebuild fills in the same pass, behind a pointer
/// (`rebuild_all` holds eight different types).
pub(crate) trait Member: Send + Sync {
    fn member_name(&self) -> &'static str;
    fn member_key(&self) -> &'static str;
    fn member_tables(&self) -> &'static [&'static str];
    fn apply_events<'a>(
        &'a self,
        tx: &'a mut ReadModelTx<'_>,
        events: &'a [RecordedEvent],
    ) -> Pin<Box<dyn Future<Output = Result<(), ProjectionError>> + Send + 'a>>;
}

impl<P: Projection> Member for P {
    fn member_name(&self) -> &'static str {
        self.name()
    }

    fn member_key(&self) -> &'static str {
        self.checkpoint_key()
    }

    fn member_tables(&self) -> &'static [&'static str] {
        self.tables()
    }

    fn apply_events<'a>(
        &'a self,
        tx: &'a mut ReadModelTx<'_>,
        events: &'a [RecordedEvent],
    ) -> Pin<Box<dyn Future<Output = Result<(), ProjectionError>> + Send + 'a>> {
        Box::pin(self.apply_batch(tx, events))
    }
}

/// Rebuilds `projection` from the whole log and swaps the result in; `progress` is called
/// after every batch.
pub async fn rebuild<P: Projection>(
    projection: &P,
    database: &Database,
    mut progress: impl FnMut(RebuildProgress) + Send,
) -> Result<RebuildReport, ProjectionError> {
    let members: [&dyn Member; 1] = [projection];
    rebuild_together(&members, database, &mut progress).await
}

/// Rebuilds `members` in one pass over the log: each batch is read once and applied by
/// each of them, in the same transaction, into shadow tables of them all; one final
/// transaction swaps them all in. `progress` is called after every batch.
pub(crate) async fn rebuild_together(
    members: &[&dyn Member],
    database: &Database,
    progress: &mut (dyn FnMut(RebuildProgress) + Send),
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
    let log = EventLog::new(database.clone());
    let result = rebuild_on(&mut connection, &log, members, total, progress).await;
    // Closing drops the temporary tables; a failed close only leaks them until then.
    if let Err(error) = connection.close().await {
        tracing::warn!(%error, "closing the rebuild connection failed");
    }
    let report = result?;
    // The swap replaced every live row: the planner's statistics describe the old ones.
    let tables: Vec<&str> = members
        .iter()
        .flat_map(|member| member.member_tables())
        .copied()
        .collect();
    crate::statistics::refresh_grown(database, &tables).await?;
    Ok(report)
}

/// Batches read ahead of the one being applied: the next one is read (on another
/// connection, on another core) while this one is folded and written.
const READ_AHEAD: usize = 2;

async fn rebuild_on(
    connection: &mut Dedicated,
    log: &EventLog,
    members: &[&dyn Member],
    total: u64,
    progress: &mut (dyn FnMut(RebuildProgress) + Send),
) -> Result<RebuildReport, ProjectionError> {
    let tables: Vec<&str> = members
        .iter()
        .flat_map(|member| member.member_tables())
        .copied()
        .collect();
    create_shadow_tables(connection, &tables).await?;
    let analyzed = key_statistics(connection).await?;
    let (batches, mut ahead) = tokio::sync::mpsc::channel(READ_AHEAD);
    let reader = tokio::spawn(read_ahead(log.clone(), batches));
    // The shadow tables hold everything up to here.
    let mut checkpoint = LogCursor::START;
    let mut applied = 0_u64;
    let mut committed = 0_u64;
    progress(RebuildProgress { applied, total });
    let filled: Result<(), ProjectionError> = async {
        while let Some(events) = ahead.recv().await {
            let mut tx = connection.begin_shadowed().await?;
            let last = apply_all(members, &mut tx, &events).await?;
            tx.commit().await?;
            checkpoint = last;
            applied += u64::try_from(events.len()).unwrap_or_default();
            progress(RebuildProgress { applied, total });
            committed += 1;
            if committed.is_power_of_two() {
                connection.analyze(analyzed.as_deref()).await?;
            }
        }
        Ok(())
    }
    .await;
    // On an error the receiver is dropped first, which stops the reader.
    drop(ahead);
    let read = reader
        .await
        .unwrap_or_else(|error| std::panic::resume_unwind(error.into_panic()));
    filled?;
    read?;
    let mut tx = connection.begin().await?;
    for member in members {
        lock_live_checkpoint(&mut tx, member.member_key()).await?;
    }
    // Whatever was committed since the last batch goes in under the locks.
    while let Some((count, last)) = step_all(members, &mut tx, checkpoint).await? {
        checkpoint = last;
        applied += count;
    }
    swap_in(&mut tx, &tables).await?;
    let move_live_checkpoint = match &tx {
        ReadModelTx::Sqlite(..) => {
            "UPDATE main.checkpoints SET transaction_id = $2, position = $3 WHERE name = $1"
        }
        ReadModelTx::Postgres(_) => {
            "UPDATE public.checkpoints SET transaction_id = $2, position = $3 WHERE name = $1"
        }
    };
    for member in members {
        crate::execute!(
            &mut tx,
            move_live_checkpoint,
            member.member_key(),
            checkpoint.transaction_id,
            checkpoint.position,
        )?;
    }
    tx.commit().await?;
    progress(RebuildProgress { applied, total });
    Ok(RebuildReport {
        applied,
        checkpoint,
    })
}

/// One batch after `checkpoint`, read inside `tx` and applied by every member; how many
/// events and the last one's place, or `None` at the end of the log.
async fn step_all(
    members: &[&dyn Member],
    tx: &mut ReadModelTx<'_>,
    checkpoint: LogCursor,
) -> Result<Option<(u64, LogCursor)>, ProjectionError> {
    let events = match tx {
        ReadModelTx::Sqlite(transaction, _) => {
            read_after_sqlite(transaction, checkpoint, BATCH).await?
        }
        ReadModelTx::Postgres(transaction) => {
            read_after_postgres(transaction, checkpoint, BATCH).await?
        }
    };
    if events.is_empty() {
        return Ok(None);
    }
    let last = apply_all(members, tx, &events).await?;
    Ok(Some((
        u64::try_from(events.len()).unwrap_or_default(),
        last,
    )))
}

/// `events` (not empty) applied by every member; the last one's place.
async fn apply_all(
    members: &[&dyn Member],
    tx: &mut ReadModelTx<'_>,
    events: &[RecordedEvent],
) -> Result<LogCursor, ProjectionError> {
    for member in members {
        member.apply_events(tx, events).await?;
    }
    Ok(events.last().map_or(LogCursor::START, |event| event.cursor))
}

/// Reads the log from the start into `batches` until it reaches the end or nobody
/// listens. The log's own reads never pass a transaction still in flight, so the
/// batches have no gap; what commits later is read by the swap's transaction.
async fn read_ahead(
    log: EventLog,
    batches: tokio::sync::mpsc::Sender<Vec<RecordedEvent>>,
) -> Result<(), ProjectionError> {
    let mut after = LogCursor::START;
    loop {
        let events = log.read_after(after, BATCH).await?;
        let Some(last) = events.last().map(|event| event.cursor) else {
            return Ok(());
        };
        after = last;
        if batches.send(events).await.is_err() {
            return Ok(());
        }
    }
}

/// Temporary tables named like the live ones, which this connection's unqualified names
/// resolve to first. They keep their keys (primary, unique: what the projections look rows
/// up by and upsert on) but not the other indexes, which serve the API's queries: each
/// would cost every upsert of the rebuild another index write (and on PostgreSQL rule out
/// updating a row in place), while the swap's one `INSERT … SELECT` fills the live ones.
async fn create_shadow_tables(
    connection: &mut Dedicated,
    tables: &[&str],
) -> Result<(), ProjectionError> {
    let shadowed = tables.iter().copied();
    match connection {
        Dedicated::Postgres(connection) => {
            for table in shadowed {
                let sql = format!("CREATE TEMP TABLE {table} (LIKE public.{table} INCLUDING ALL)");
                sqlx::query(&sql).execute(&mut *connection).await?;
            }
            let secondary: Vec<String> = sqlx::query_scalar(
                "SELECT index.relname::text FROM pg_index \
                 JOIN pg_class AS index ON index.oid = pg_index.indexrelid \
                 WHERE index.relnamespace = pg_my_temp_schema() AND NOT pg_index.indisunique",
            )
            .fetch_all(&mut *connection)
            .await?;
            for index in secondary {
                let sql = format!("DROP INDEX pg_temp.{}", quoted(&index));
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

/// On PostgreSQL, the `ANALYZE` of every shadow table's key columns (those of its
/// primary key and unique constraints: what the projections look rows up by).
async fn key_statistics(connection: &mut Dedicated) -> Result<Option<String>, ProjectionError> {
    let Dedicated::Postgres(connection) = connection else {
        return Ok(None);
    };
    let keys: Vec<(String, String)> = sqlx::query_as(
        "SELECT DISTINCT class.relname::text, attribute.attname::text FROM pg_index \
         JOIN pg_class AS class ON class.oid = pg_index.indrelid \
         JOIN pg_attribute AS attribute ON attribute.attrelid = pg_index.indrelid \
              AND attribute.attnum = ANY (pg_index.indkey) \
         WHERE class.relnamespace = pg_my_temp_schema() AND pg_index.indisunique \
         ORDER BY 1, 2",
    )
    .fetch_all(&mut *connection)
    .await?;
    let mut columns: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (table, column) in keys {
        // A small sample: what the planner needs is how distinct the values are. With the
        // default target's lists of common values, planning each batch's `IN (…)` of
        // thousands of keys compared every key with each of them (a quarter of an
        // `analytics` rebuild in the planner).
        let sql = format!(
            "ALTER TABLE pg_temp.{} ALTER COLUMN {} SET STATISTICS {KEY_STATISTICS_TARGET}",
            quoted(&table),
            quoted(&column)
        );
        sqlx::query(&sql).execute(&mut *connection).await?;
        columns.entry(table).or_default().push(quoted(&column));
    }
    if columns.is_empty() {
        return Ok(None);
    }
    let targets: Vec<String> = columns
        .iter()
        .map(|(table, columns)| format!("pg_temp.{} ({})", quoted(table), columns.join(", ")))
        .collect();
    Ok(Some(format!("ANALYZE {}", targets.join(", "))))
}

/// The statistics target of the shadow tables' key columns (PostgreSQL's default: 100).
const KEY_STATISTICS_TARGET: u32 = 5;

/// A PostgreSQL identifier, quoted.
fn quoted(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

/// The temporary twin of a SQLite `CREATE TABLE` or `CREATE UNIQUE INDEX` statement
/// (other indexes are left out).
fn shadow_ddl(kind: &str, sql: &str) -> Option<String> {
    match kind {
        "table" => sql
            .strip_prefix("CREATE TABLE ")
            .map(|rest| format!("CREATE TEMP TABLE {rest}")),
        "index" => sql
            .strip_prefix("CREATE UNIQUE INDEX ")
            .map(|rest| format!("CREATE UNIQUE INDEX temp.{rest}")),
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
    let merged = gin_indexes_without_pending_list(tx, tables).await?;
    for index in &merged {
        let sql = format!("ALTER INDEX {index} SET (fastupdate = on)");
        crate::execute!(&mut *tx, &sql)?;
    }
    for table in tables {
        let sql = format!("INSERT INTO {live}.{table} SELECT * FROM {shadow}.{table}");
        crate::execute!(&mut *tx, &sql)?;
    }
    for index in &merged {
        let sql = format!("SELECT gin_clean_pending_list('{index}'::regclass)");
        crate::execute!(&mut *tx, &sql)?;
        let sql = format!("ALTER INDEX {index} SET (fastupdate = off)");
        crate::execute!(&mut *tx, &sql)?;
    }
    Ok(())
}

/// The live tables' GIN indexes kept without a pending list (the library's, on
/// PostgreSQL). The swap fills them through one for the time of its `INSERT`, then merges
/// it in one pass: entry by entry, the keys of every row (~30 per score) were a fifth of a
/// `scores` rebuild (PostgreSQL, 1,000,000 events: 26.8 s, 21.7 s merged).
async fn gin_indexes_without_pending_list(
    tx: &mut ReadModelTx<'_>,
    tables: &[&str],
) -> Result<Vec<String>, sqlx::Error> {
    let ReadModelTx::Postgres(transaction) = tx else {
        return Ok(Vec::new());
    };
    let names: Vec<String> = tables.iter().map(|&table| table.to_owned()).collect();
    sqlx::query_scalar(
        "SELECT format('public.%I', index.relname) FROM pg_index \
         JOIN pg_class AS index ON index.oid = pg_index.indexrelid \
         JOIN pg_class AS live ON live.oid = pg_index.indrelid \
         JOIN pg_am ON pg_am.oid = index.relam \
         WHERE live.relnamespace = 'public'::regnamespace AND live.relname = ANY ($1) \
           AND pg_am.amname = 'gin' AND 'fastupdate=off' = ANY (index.reloptions)",
    )
    .bind(&names)
    .fetch_all(&mut **transaction)
    .await
}

#[cfg(test)]
mod tests {
    use super::shadow_ddl;

    #[test]
    fn sqlite_tables_and_their_keys_get_temporary_twins() {
        assert_eq!(
            shadow_ddl("table", "CREATE TABLE scores\n(id TEXT PRIMARY KEY) STRICT").as_deref(),
            Some("CREATE TEMP TABLE scores\n(id TEXT PRIMARY KEY) STRICT")
        );
        assert_eq!(
            shadow_ddl("index", "CREATE UNIQUE INDEX scores_key ON scores (id)").as_deref(),
            Some("CREATE UNIQUE INDEX temp.scores_key ON scores (id)")
        );
        assert_eq!(
            shadow_ddl("index", "CREATE INDEX scores_idx ON scores (title)"),
            None
        );
        assert_eq!(shadow_ddl("trigger", "CREATE TRIGGER t"), None);
    }
}
