//! Everything an audit compares, read in one snapshot of the database: the user's Quota
//! stream, the read models fed by it, and the followers' checkpoints. A commit landing
//! half-way through can then never look like a divergence.
//!
//! An audit costs about what reading the stream does (`cargo bench -p benches --bench
//! audit`): the stream is read with the columns of its plain `SELECT`, each event's JSON
//! read straight from the row into the typed event and the metadata it reports, and
//! everything else is one more row. On SQLite that row holds the user's `quota_ledger`
//! rows as JSON arrays by column (10,000 rows crossing from SQLite's thread one by one
//! cost as much as the stream itself); on PostgreSQL the ledger rows and that row are read
//! on a second connection that imports the first one's snapshot (`pg_export_snapshot`)
//! while the stream is read.

use aggregates::UserId;
use chrono::{DateTime, Utc};
use eventstore::{Database, LogCursor};
use projections::{OpenReservations, Projection, QuotaBalances, QuotaLedger, Scores};
use serde::Deserialize;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgPool, PgRow};
use sqlx::sqlite::SqliteRow;
use sqlx::{Connection, Executor, FromRow, PgConnection, Postgres, Row, SqliteConnection};

use super::AuditError;
use super::replay::{Dating, Fold, Replayed, StoredEvent};
use super::verify::{self, Divergence};

/// One row of `quota_ledger`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerRow {
    pub position: i64,
    pub version: i64,
    pub event: String,
    pub upload_id: Option<String>,
    pub score_id: Option<String>,
    pub delta_used_bytes: i64,
    pub delta_reserved_bytes: i64,
    pub used_bytes_after: i64,
    pub reserved_bytes_after: i64,
    pub limit_bytes_after: i64,
}

/// The user's row of `quota_balances`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceRow {
    pub limit_bytes: i64,
    pub used_bytes: i64,
    pub reserved_bytes: i64,
    pub version: i64,
}

/// Where each follower the audit relies on stands.
#[derive(Debug, Clone, Copy, Default)]
pub struct Checkpoints {
    pub quota_ledger: LogCursor,
    pub quota_balances: LogCursor,
    pub open_reservations: LogCursor,
    pub scores: LogCursor,
    /// The quota saga, which turns score events into quota events.
    pub quota_saga: LogCursor,
}

#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The last event committed in this snapshot.
    pub head: LogCursor,
    pub checkpoints: Checkpoints,
    /// The first `quota_ledger` row that disagrees with the replay, compared while the
    /// rows were at hand (see `verify`).
    pub ledger: Option<Divergence>,
    pub balance: Option<BalanceRow>,
    /// Sum of the user's rows in `open_reservations`.
    pub open_reserved_bytes: i64,
    /// Sum of the sizes of the user's live (confirmed, not deleted) scores.
    pub live_score_bytes: i64,
}

/// Whether one audit may read on two connections at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reads {
    /// PostgreSQL reads the ledger beside the stream when a second connection is idle in
    /// the pool (never waiting for one: two audits could each hold one and wait forever).
    Parallel,
    /// One connection: many audits run at once instead (`audit verify-all`).
    Sequential,
}

/// The quota saga's checkpoint key (processors::QuotaSaga's name).
const QUOTA_SAGA: &str = "quota";

const SQLITE_STREAM: &str = "SELECT position, sequence, event_type, event_version, payload, \
    metadata FROM events WHERE aggregate_type = 'Quota' AND aggregate_id = $1 ORDER BY sequence";
// `payload` and `metadata` as `jsonb`, read as bytes (`jsonb_bytes`).
const POSTGRES_STREAM: &str = "SELECT transaction_id, position, \
    sequence, event_type, event_version, payload, metadata \
    FROM events WHERE aggregate_type = 'Quota' AND aggregate_id = $1 ORDER BY sequence";
/// For events whose metadata does not read (none that this version wrote).
const RECORDED_AT: &str = "SELECT position, recorded_at FROM events \
    WHERE aggregate_type = 'Quota' AND aggregate_id = $1 ORDER BY sequence";

/// Everything but the stream, in one row: `$1` the user, `$2`–`$6` the checkpoint names.
/// `$head` is `eventstore`'s head query; `$ledger` SQLite's ledger columns (joined as
/// `ledger`), or nothing: PostgreSQL reads the rows.
macro_rules! context_sql {
    ($head:literal, $ledger:literal) => {
        concat!(
            "SELECT head.transaction_id AS head_transaction_id, head.position AS head_position,
       c1.transaction_id AS ledger_transaction_id, c1.position AS ledger_position,
       c2.transaction_id AS balances_transaction_id, c2.position AS balances_position,
       c3.transaction_id AS reservations_transaction_id, c3.position AS reservations_position,
       c4.transaction_id AS scores_transaction_id, c4.position AS scores_position,
       c5.transaction_id AS saga_transaction_id, c5.position AS saga_position,
       b.limit_bytes, b.used_bytes, b.reserved_bytes, b.version AS balance_version,
       (SELECT CAST(COALESCE(SUM(bytes), 0) AS BIGINT) FROM open_reservations
         WHERE user_id = $1) AS open_reserved_bytes,
       (SELECT CAST(COALESCE(SUM(size_bytes), 0) AS BIGINT) FROM scores
         WHERE owner_id = $1 AND lifecycle = 'confirmed') AS live_score_bytes",
            $ledger,
            "
  LEFT JOIN (",
            $head,
            ") AS head ON 1 = 1
  LEFT JOIN checkpoints AS c1 ON c1.name = $2
  LEFT JOIN checkpoints AS c2 ON c2.name = $3
  LEFT JOIN checkpoints AS c3 ON c3.name = $4
  LEFT JOIN checkpoints AS c4 ON c4.name = $5
  LEFT JOIN checkpoints AS c5 ON c5.name = $6
  LEFT JOIN quota_balances AS b ON b.user_id = $1"
        )
    };
}

// The ledger by column (`LedgerColumns`), each a JSON array: a quarter of the work of an
// array per row. One aggregate query, so the arrays list the same rows in the same order.
const SQLITE_CONTEXT: &str = context_sql!(
    "SELECT 0 AS transaction_id, position FROM events ORDER BY position DESC LIMIT 1",
    ",
       ledger.*
  FROM (SELECT json_group_array(position) AS positions,
               json_group_array(version) AS versions,
               json_group_array(event) AS events,
               json_group_array(upload_id) AS upload_ids,
               json_group_array(score_id) AS score_ids,
               json_group_array(delta_used_bytes) AS deltas_used,
               json_group_array(delta_reserved_bytes) AS deltas_reserved,
               json_group_array(used_bytes_after) AS used_after,
               json_group_array(reserved_bytes_after) AS reserved_after,
               json_group_array(limit_bytes_after) AS limit_after
          FROM quota_ledger WHERE user_id = $1) AS ledger"
);
// ORDER BY the table's columns: the log-order index.
const POSTGRES_CONTEXT: &str = context_sql!(
    "SELECT transaction_id::text::bigint AS transaction_id, position FROM events \
     ORDER BY events.transaction_id DESC, events.position DESC LIMIT 1",
    "
  FROM (SELECT 1 AS one) AS anchor"
);
// By version alone, the order of the `(user_id, version)` index, unique: no sort.
const POSTGRES_LEDGER: &str = "SELECT position, version, event, upload_id, score_id, \
    delta_used_bytes, delta_reserved_bytes, used_bytes_after, reserved_bytes_after, \
    limit_bytes_after FROM quota_ledger WHERE user_id = $1 ORDER BY version";

/// How long an audit waits for a new second connection before reading on one.
const BESIDE_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

const POSTGRES_SNAPSHOT: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";

/// The one row of [`context_sql`].
#[derive(Debug, sqlx::FromRow)]
struct Context {
    head_transaction_id: Option<i64>,
    head_position: Option<i64>,
    ledger_transaction_id: Option<i64>,
    ledger_position: Option<i64>,
    balances_transaction_id: Option<i64>,
    balances_position: Option<i64>,
    reservations_transaction_id: Option<i64>,
    reservations_position: Option<i64>,
    scores_transaction_id: Option<i64>,
    scores_position: Option<i64>,
    saga_transaction_id: Option<i64>,
    saga_position: Option<i64>,
    limit_bytes: Option<i64>,
    used_bytes: Option<i64>,
    reserved_bytes: Option<i64>,
    balance_version: Option<i64>,
    open_reserved_bytes: i64,
    live_score_bytes: i64,
}

/// SQLite's `quota_ledger` rows, by column: JSON arrays of the same length.
#[derive(Debug, sqlx::FromRow)]
struct LedgerColumns {
    positions: String,
    versions: String,
    events: String,
    upload_ids: String,
    score_ids: String,
    deltas_used: String,
    deltas_reserved: String,
    used_after: String,
    reserved_after: String,
    limit_after: String,
}

impl LedgerColumns {
    /// The rows, in the order of the index read (by version).
    fn rows(&self) -> Result<Vec<LedgerRow>, AuditError> {
        fn column<'a, T: Deserialize<'a>>(json: &'a str) -> Result<Vec<T>, AuditError> {
            serde_json::from_str(json).map_err(AuditError::Ledger)
        }
        let positions: Vec<i64> = column(&self.positions)?;
        let versions: Vec<i64> = column(&self.versions)?;
        let events: Vec<String> = column(&self.events)?;
        let upload_ids: Vec<Option<String>> = column(&self.upload_ids)?;
        let score_ids: Vec<Option<String>> = column(&self.score_ids)?;
        let deltas_used: Vec<i64> = column(&self.deltas_used)?;
        let deltas_reserved: Vec<i64> = column(&self.deltas_reserved)?;
        let used_after: Vec<i64> = column(&self.used_after)?;
        let reserved_after: Vec<i64> = column(&self.reserved_after)?;
        let limit_after: Vec<i64> = column(&self.limit_after)?;
        let count = positions.len();
        let lengths = [
            versions.len(),
            events.len(),
            upload_ids.len(),
            score_ids.len(),
            deltas_used.len(),
            deltas_reserved.len(),
            used_after.len(),
            reserved_after.len(),
            limit_after.len(),
        ];
        if lengths.iter().any(|&length| length != count) {
            return Err(AuditError::Ledger(serde::de::Error::custom(
                "the ledger's columns differ in length",
            )));
        }
        let mut events = events.into_iter();
        let mut ids = upload_ids.into_iter().zip(score_ids);
        let mut deltas = deltas_used.into_iter().zip(deltas_reserved);
        let mut after = used_after.into_iter().zip(reserved_after).zip(limit_after);
        let rows = positions
            .into_iter()
            .zip(versions)
            .map_while(|(position, version)| {
                let (upload_id, score_id) = ids.next()?;
                let (delta_used_bytes, delta_reserved_bytes) = deltas.next()?;
                let ((used_bytes_after, reserved_bytes_after), limit_bytes_after) = after.next()?;
                Some(LedgerRow {
                    position,
                    version,
                    event: events.next()?,
                    upload_id,
                    score_id,
                    delta_used_bytes,
                    delta_reserved_bytes,
                    used_bytes_after,
                    reserved_bytes_after,
                    limit_bytes_after,
                })
            })
            .collect();
        Ok(rows)
    }
}

/// A cursor from a row that may be missing (`START`: the log is empty, the follower never
/// ran).
fn cursor(transaction_id: Option<i64>, position: Option<i64>) -> LogCursor {
    match (transaction_id, position) {
        (Some(transaction_id), Some(position)) => LogCursor {
            transaction_id,
            position,
        },
        _ => LogCursor::START,
    }
}

impl Context {
    fn checkpoints(&self) -> Checkpoints {
        Checkpoints {
            quota_ledger: cursor(self.ledger_transaction_id, self.ledger_position),
            quota_balances: cursor(self.balances_transaction_id, self.balances_position),
            open_reservations: cursor(self.reservations_transaction_id, self.reservations_position),
            scores: cursor(self.scores_transaction_id, self.scores_position),
            quota_saga: cursor(self.saga_transaction_id, self.saga_position),
        }
    }

    fn balance(&self) -> Option<BalanceRow> {
        match (
            self.limit_bytes,
            self.used_bytes,
            self.reserved_bytes,
            self.balance_version,
        ) {
            (Some(limit_bytes), Some(used_bytes), Some(reserved_bytes), Some(version)) => {
                Some(BalanceRow {
                    limit_bytes,
                    used_bytes,
                    reserved_bytes,
                    version,
                })
            }
            _ => None,
        }
    }
}

/// The stream replayed so far.
#[derive(Debug, Default)]
struct Reading {
    fold: Fold,
    replayed: Vec<Replayed>,
    /// Lines whose `occurred_at` is their event's `recorded_at`, still to be read.
    undated: Vec<usize>,
    /// The first event that does not decode: the rest of the stream is not read.
    failed: Option<AuditError>,
}

impl Reading {
    fn with_capacity(events: usize) -> Self {
        Self {
            replayed: Vec::with_capacity(events),
            ..Self::default()
        }
    }

    fn push(&mut self, stored: &StoredEvent<'_>) {
        if self.failed.is_some() {
            return;
        }
        match self.fold.push_stored(stored) {
            Ok((replayed, dating)) => {
                if dating == Dating::Recorded {
                    self.undated.push(self.replayed.len());
                }
                self.replayed.push(replayed);
            }
            Err(error) => self.failed = Some(error),
        }
    }

    fn finish(self) -> Result<(Vec<Replayed>, Vec<usize>), AuditError> {
        match self.failed {
            Some(error) => Err(error),
            None => Ok((self.replayed, self.undated)),
        }
    }
}

// Unchecked: the columns are the `events` table's (a STRICT table: their types hold), and
// checking each value's type is measurable at 10,000 rows.
fn stored_sqlite(row: &SqliteRow) -> Result<StoredEvent<'_>, sqlx::Error> {
    Ok(StoredEvent {
        cursor: LogCursor {
            transaction_id: 0,
            position: row.try_get_unchecked(0)?,
        },
        sequence: row.try_get_unchecked(1)?,
        event_type: row.try_get_unchecked(2)?,
        event_version: row.try_get_unchecked(3)?,
        payload: row.try_get_unchecked(4)?,
        metadata: row.try_get_unchecked(5)?,
    })
}

fn stored_postgres(row: &PgRow) -> Result<StoredEvent<'_>, sqlx::Error> {
    Ok(StoredEvent {
        cursor: LogCursor {
            // `xid8` is sent as 8 bytes, big-endian, as a `bigint` is: the same number
            // `::text::bigint` gives elsewhere, without the text on the server.
            transaction_id: row.try_get_unchecked(0)?,
            position: row.try_get(1)?,
        },
        sequence: row.try_get(2)?,
        event_type: row.try_get(3)?,
        event_version: row.try_get(4)?,
        payload: jsonb_text(row, 5)?,
        metadata: jsonb_text(row, 6)?,
    })
}

/// A `jsonb` column's JSON text, in place: its binary form is a format version (1) and
/// the text (what `::text` would send, without a copy into a `String` or a `Value`).
fn jsonb_text(row: &PgRow, index: usize) -> Result<&str, sqlx::Error> {
    let decode = |source: Box<dyn std::error::Error + Send + Sync>| sqlx::Error::ColumnDecode {
        index: index.to_string(),
        source,
    };
    let bytes: &[u8] = row.try_get_unchecked(index)?;
    match bytes.split_first() {
        Some((1, text)) => std::str::from_utf8(text).map_err(|error| decode(error.into())),
        _ => Err(decode("not jsonb of format version 1".into())),
    }
}

/// The stream replayed (each event's ledger row compared) and the rest of the snapshot.
pub async fn take(
    database: &Database,
    user_id: UserId,
    reads: Reads,
) -> Result<(Vec<Replayed>, Snapshot), AuditError> {
    let user = user_id.to_string();
    let (replayed, context, ledger) = match database {
        Database::Sqlite(pool) => {
            // Deferred: the first read fixes the snapshot.
            let mut tx = pool.begin().await?;
            let (context, columns) = context_sqlite(&mut tx, &user).await?;
            // The ledger's JSON is parsed while the stream is read.
            let ledger = tokio::spawn(async move { columns.rows() });
            let (mut replayed, undated) = stream_sqlite(&mut tx, &user).await?;
            if !undated.is_empty() {
                let recorded = recorded_at_sqlite(&mut tx, &user).await?;
                date(&mut replayed, &undated, &recorded)?;
            }
            tx.rollback().await?;
            let ledger = ledger
                .await
                .unwrap_or_else(|error| std::panic::resume_unwind(error.into_panic()))?;
            (replayed, context, ledger)
        }
        Database::Postgres(pool) => {
            let mut tx = pool.begin_with(POSTGRES_SNAPSHOT).await?;
            let beside = match reads {
                Reads::Parallel => beside(pool).await,
                Reads::Sequential => None,
            };
            let ((mut replayed, undated), (context, ledger)) = match beside {
                Some(connection) => {
                    // Exported first, so the stream is read in that very snapshot.
                    let exported: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
                        .fetch_one(&mut *tx)
                        .await?;
                    let owner = user.clone();
                    let rest = tokio::spawn(async move {
                        rest_in_snapshot(connection, &exported, &owner).await
                    });
                    let stream = stream_postgres(&mut tx, &user).await;
                    // Joined before this transaction ends: the import needs it alive.
                    let rest = rest
                        .await
                        .unwrap_or_else(|error| std::panic::resume_unwind(error.into_panic()));
                    (stream?, rest?)
                }
                None => {
                    let stream = stream_postgres(&mut tx, &user).await?;
                    (stream, rest_postgres(&mut tx, &user).await?)
                }
            };
            if !undated.is_empty() {
                let recorded = recorded_at_postgres(&mut tx, &user).await?;
                date(&mut replayed, &undated, &recorded)?;
            }
            tx.rollback().await?;
            (replayed, context, ledger)
        }
    };
    // In version order (the indexes', normally: then this is one pass).
    let mut ledger = ledger;
    ledger.sort_by_key(|row| (row.version, row.position));
    let checkpoints = context.checkpoints();
    let snapshot = Snapshot {
        head: cursor(context.head_transaction_id, context.head_position),
        checkpoints,
        ledger: verify::ledger(&replayed, &ledger, checkpoints.quota_ledger),
        balance: context.balance(),
        open_reserved_bytes: context.open_reserved_bytes,
        live_score_bytes: context.live_score_bytes,
    };
    Ok((replayed, snapshot))
}

/// A second connection while this audit holds one: an idle one, or a new one while the
/// pool has room, never waiting long for one (audits holding one each could otherwise
/// wait for each other until the pool's timeout).
async fn beside(pool: &PgPool) -> Option<PoolConnection<Postgres>> {
    if let Some(connection) = pool.try_acquire() {
        return Some(connection);
    }
    if pool.size() >= pool.options().get_max_connections() {
        return None;
    }
    tokio::time::timeout(BESIDE_WAIT, pool.acquire())
        .await
        .ok()?
        .ok()
}

/// The stream, received whole, then decoded. SQLite's rows are made on its connection's
/// thread, each value in a block of the C allocator: decoding as they arrive, or on
/// another task, frees those blocks while that thread allocates the next ones, and the
/// two wait on each other (a third longer than the plain `SELECT`, measured); received
/// whole, the rows are freed one by one as they are read, that thread idle.
async fn stream_sqlite(
    connection: &mut SqliteConnection,
    user: &str,
) -> Result<(Vec<Replayed>, Vec<usize>), AuditError> {
    let rows = sqlx::query(SQLITE_STREAM)
        .bind(user)
        .fetch_all(connection)
        .await?;
    let mut reading = Reading::with_capacity(rows.len());
    for row in rows {
        reading.push(&stored_sqlite(&row)?);
    }
    reading.finish()
}

/// The stream, each row decoded as it arrives (the rows are the driver's own buffers).
async fn stream_postgres(
    connection: &mut PgConnection,
    user: &str,
) -> Result<(Vec<Replayed>, Vec<usize>), AuditError> {
    let mut reading = Reading::default();
    sqlx::query(POSTGRES_STREAM)
        .bind(user)
        .try_map(|row: PgRow| {
            reading.push(&stored_postgres(&row)?);
            Ok(())
        })
        .fetch_all(connection)
        .await?;
    reading.finish()
}

/// The context and the ledger rows, in the snapshot `exported` by another transaction
/// (still open).
async fn rest_in_snapshot(
    mut connection: PoolConnection<Postgres>,
    exported: &str,
    user: &str,
) -> Result<(Context, Vec<LedgerRow>), AuditError> {
    // An identifier as PostgreSQL prints them (`00000003-0000001B-1`), nothing to quote.
    if !exported
        .bytes()
        .all(|byte| byte.is_ascii_hexdigit() || byte == b'-')
    {
        return Err(sqlx::Error::Protocol(format!("unexpected snapshot id {exported:?}")).into());
    }
    let mut tx = connection.begin_with(POSTGRES_SNAPSHOT).await?;
    tx.execute(format!("SET TRANSACTION SNAPSHOT '{exported}'").as_str())
        .await?;
    let rest = rest_postgres(&mut tx, user).await?;
    tx.rollback().await?;
    Ok(rest)
}

async fn rest_postgres(
    connection: &mut PgConnection,
    user: &str,
) -> Result<(Context, Vec<LedgerRow>), AuditError> {
    let context = context_postgres(&mut *connection, user).await?;
    // Columns by index: looking 10 names up in each of 10,000 rows shows.
    let ledger = sqlx::query(POSTGRES_LEDGER)
        .bind(user)
        .try_map(|row: PgRow| {
            Ok(LedgerRow {
                position: row.try_get(0)?,
                version: row.try_get(1)?,
                event: row.try_get(2)?,
                upload_id: row.try_get(3)?,
                score_id: row.try_get(4)?,
                delta_used_bytes: row.try_get(5)?,
                delta_reserved_bytes: row.try_get(6)?,
                used_bytes_after: row.try_get(7)?,
                reserved_bytes_after: row.try_get(8)?,
                limit_bytes_after: row.try_get(9)?,
            })
        })
        .fetch_all(connection)
        .await?;
    Ok((context, ledger))
}

/// The context query with its binds, on either backend.
macro_rules! context {
    ($query:expr, $connection:expr, $user:expr) => {
        $query
            .bind($user)
            .bind(QuotaLedger.checkpoint_key())
            .bind(QuotaBalances.checkpoint_key())
            .bind(OpenReservations.checkpoint_key())
            .bind(Scores.checkpoint_key())
            .bind(QUOTA_SAGA)
            .fetch_one($connection)
    };
}

async fn context_sqlite(
    connection: &mut SqliteConnection,
    user: &str,
) -> Result<(Context, LedgerColumns), AuditError> {
    let row = context!(sqlx::query(SQLITE_CONTEXT), connection, user).await?;
    Ok((Context::from_row(&row)?, LedgerColumns::from_row(&row)?))
}

async fn context_postgres(
    connection: &mut PgConnection,
    user: &str,
) -> Result<Context, AuditError> {
    Ok(context!(sqlx::query_as(POSTGRES_CONTEXT), connection, user).await?)
}

async fn recorded_at_sqlite(
    connection: &mut SqliteConnection,
    user: &str,
) -> Result<Vec<(i64, DateTime<Utc>)>, AuditError> {
    Ok(sqlx::query_as(RECORDED_AT)
        .bind(user)
        .fetch_all(connection)
        .await?)
}

async fn recorded_at_postgres(
    connection: &mut PgConnection,
    user: &str,
) -> Result<Vec<(i64, DateTime<Utc>)>, AuditError> {
    Ok(sqlx::query_as(RECORDED_AT)
        .bind(user)
        .fetch_all(connection)
        .await?)
}

/// Sets the `occurred_at` of the `undated` lines to their events' `recorded_at`
/// (`recorded`: the same stream, the same snapshot, the same order).
fn date(
    replayed: &mut [Replayed],
    undated: &[usize],
    recorded: &[(i64, DateTime<Utc>)],
) -> Result<(), AuditError> {
    for &index in undated {
        let (Some(line), Some(&(position, at))) = (replayed.get_mut(index), recorded.get(index))
        else {
            return Err(sqlx::Error::RowNotFound.into());
        };
        if position != line.entry.position {
            return Err(
                sqlx::Error::Protocol("the stream changed within its snapshot".to_owned()).into(),
            );
        }
        line.entry.occurred_at = at;
    }
    Ok(())
}

pub async fn users(database: &Database) -> Result<Vec<UserId>, AuditError> {
    const USERS: &str = "SELECT aggregate_id FROM events WHERE aggregate_type = 'Quota' \
        UNION SELECT user_id FROM quota_balances ORDER BY 1";
    let ids: Vec<(String,)> = match database {
        Database::Sqlite(pool) => sqlx::query_as(USERS).fetch_all(pool).await?,
        Database::Postgres(pool) => sqlx::query_as(USERS).fetch_all(pool).await?,
    };
    Ok(ids
        .into_iter()
        .filter_map(|(id,)| id.parse::<UserId>().ok())
        .collect())
}
