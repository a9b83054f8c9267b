//! The global log: every stored event, of every aggregate, in one total order that a
//! follower can tail from a checkpoint without ever skipping an event that commits late.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sqlx::Row;
use sqlx::types::Json;

use crate::database::Database;
use crate::error::StoreError;
use crate::metadata::EventMetadata;

/// A place in the global log. Events are ordered by `(transaction_id, position)`: on
/// PostgreSQL `transaction_id` is the writing transaction's id, on SQLite it is always 0
/// and `position` alone is the commit order. The zero cursor is before every event.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct LogCursor {
    pub transaction_id: i64,
    pub position: i64,
}

impl LogCursor {
    pub const START: Self = Self {
        transaction_id: 0,
        position: 0,
    };
}

/// One event as stored, with its place in the global log. Its payload and metadata stay
/// JSON text until a reader decodes them into its own types: most readers skip most
/// events, and a typed decode straight from text costs a fraction of building a `Value`
/// tree first.
#[derive(Debug, Clone)]
pub struct RecordedEvent {
    pub cursor: LogCursor,
    pub aggregate_type: String,
    pub aggregate_id: String,
    /// The event's number within its aggregate (1, 2, …): the aggregate's version after it.
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: Box<RawValue>,
    pub metadata: Box<RawValue>,
    /// When the database stored it (the command's own time is `metadata.occurred_at`).
    pub recorded_at: DateTime<Utc>,
}

impl RecordedEvent {
    /// The globally unique number of this event.
    pub fn position(&self) -> i64 {
        self.cursor.position
    }

    pub fn metadata(&self) -> Option<EventMetadata> {
        EventMetadata::from_json_text(self.metadata.get())
    }
}

/// Equal when every column is, the JSON compared as stored text.
impl PartialEq for RecordedEvent {
    fn eq(&self, other: &Self) -> bool {
        self.cursor == other.cursor
            && self.aggregate_type == other.aggregate_type
            && self.aggregate_id == other.aggregate_id
            && self.sequence == other.sequence
            && self.event_type == other.event_type
            && self.event_version == other.event_version
            && self.payload.get() == other.payload.get()
            && self.metadata.get() == other.metadata.get()
            && self.recorded_at == other.recorded_at
    }
}

/// Reads the global log.
#[derive(Debug, Clone)]
pub struct EventLog {
    database: Database,
}

// `ORDER BY` names the table's columns: a bare `transaction_id` would mean the output
// column (the cast to bigint), which no index covers, and every page would scan and sort
// the whole table.
const POSTGRES_READ_AFTER: &str = "
SELECT transaction_id::text::bigint AS transaction_id, position, aggregate_type, aggregate_id,
       sequence, event_type, event_version, payload, metadata, recorded_at
  FROM events
 WHERE (transaction_id, position) > ($1::bigint::text::xid8, $2)
   AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
 ORDER BY events.transaction_id, events.position
 LIMIT $3";

const SQLITE_READ_AFTER: &str = "
SELECT 0 AS transaction_id, position, aggregate_type, aggregate_id,
       sequence, event_type, event_version, payload, metadata, recorded_at
  FROM events
 WHERE position > $1
 ORDER BY position
 LIMIT $2";

const POSTGRES_STREAM: &str = "
SELECT transaction_id::text::bigint AS transaction_id, position, aggregate_type, aggregate_id,
       sequence, event_type, event_version, payload, metadata, recorded_at
  FROM events
 WHERE aggregate_type = $1 AND aggregate_id = $2
 ORDER BY sequence";

const SQLITE_STREAM: &str = "
SELECT 0 AS transaction_id, position, aggregate_type, aggregate_id,
       sequence, event_type, event_version, payload, metadata, recorded_at
  FROM events
 WHERE aggregate_type = $1 AND aggregate_id = $2
 ORDER BY sequence";

const POSTGRES_HEAD: &str = "
SELECT transaction_id::text::bigint AS transaction_id, position
  FROM events
 ORDER BY events.transaction_id DESC, events.position DESC
 LIMIT 1";

const POSTGRES_CURSOR_OF: &str = "
SELECT transaction_id::text::bigint AS transaction_id, position
  FROM events
 WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = $3";

const SQLITE_CURSOR_OF: &str = "
SELECT 0 AS transaction_id, position
  FROM events
 WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = $3";

const SQLITE_HEAD: &str =
    "SELECT 0 AS transaction_id, position FROM events ORDER BY position DESC LIMIT 1";

impl EventLog {
    pub fn new(database: Database) -> Self {
        Self { database }
    }

    /// Up to `limit` events after `cursor`, in log order.
    ///
    /// On PostgreSQL only events of transactions older than every transaction still
    /// running are returned: a transaction that took an earlier position but has not
    /// committed yet holds back everything after it, so it is read in its place once it
    /// commits instead of being skipped.
    pub async fn read_after(
        &self,
        cursor: LogCursor,
        limit: u32,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        match &self.database {
            Database::Postgres(pool) => {
                let mut connection = pool.acquire().await?;
                read_after_postgres(&mut connection, cursor, limit).await
            }
            Database::Sqlite(pool) => {
                let mut connection = pool.acquire().await?;
                read_after_sqlite(&mut connection, cursor, limit).await
            }
        }
    }

    /// Every event of one aggregate, in its own order, with their places in the log.
    pub async fn stream(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        match &self.database {
            Database::Postgres(pool) => {
                let mut connection = pool.acquire().await?;
                stream_postgres(&mut connection, aggregate_type, aggregate_id).await
            }
            Database::Sqlite(pool) => {
                let mut connection = pool.acquire().await?;
                stream_sqlite(&mut connection, aggregate_type, aggregate_id).await
            }
        }
    }

    /// How many committed events lie after `cursor` (a follower's lag).
    pub async fn count_after(&self, cursor: LogCursor) -> Result<i64, StoreError> {
        Ok(match &self.database {
            Database::Postgres(pool) => {
                sqlx::query_scalar(
                    "SELECT count(*) FROM events \
                     WHERE (transaction_id, position) > ($1::bigint::text::xid8, $2)",
                )
                .bind(cursor.transaction_id)
                .bind(cursor.position)
                .fetch_one(pool)
                .await?
            }
            Database::Sqlite(pool) => {
                sqlx::query_scalar("SELECT count(*) FROM events WHERE position > $1")
                    .bind(cursor.position)
                    .fetch_one(pool)
                    .await?
            }
        })
    }

    /// Where one aggregate's event (by its sequence) stands in the log; `None` when it is
    /// not stored (or not committed yet).
    pub async fn cursor_of(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        sequence: i64,
    ) -> Result<Option<LogCursor>, StoreError> {
        let row = match &self.database {
            Database::Postgres(pool) => {
                sqlx::query(POSTGRES_CURSOR_OF)
                    .bind(aggregate_type)
                    .bind(aggregate_id)
                    .bind(sequence)
                    .try_map(|row| decode_cursor(&row))
                    .fetch_optional(pool)
                    .await?
            }
            Database::Sqlite(pool) => {
                sqlx::query(SQLITE_CURSOR_OF)
                    .bind(aggregate_type)
                    .bind(aggregate_id)
                    .bind(sequence)
                    .try_map(|row| decode_cursor(&row))
                    .fetch_optional(pool)
                    .await?
            }
        };
        Ok(row)
    }

    /// The cursor of the last event committed so far (`START` when the log is empty). A
    /// follower whose checkpoint has reached it has seen everything committed before the
    /// call.
    pub async fn head(&self) -> Result<LogCursor, StoreError> {
        match &self.database {
            Database::Postgres(pool) => head_postgres(&mut *pool.acquire().await?).await,
            Database::Sqlite(pool) => head_sqlite(&mut *pool.acquire().await?).await,
        }
    }
}

/// `EventLog::read_after` on a given PostgreSQL connection (inside a transaction, say).
pub async fn read_after_postgres(
    connection: &mut sqlx::PgConnection,
    cursor: LogCursor,
    limit: u32,
) -> Result<Vec<RecordedEvent>, StoreError> {
    // Rows are decoded as they arrive (`try_map`), not once the page is in: decoding
    // overlaps the server sending the rest, and no page of raw rows is held beside the
    // decoded one.
    sqlx::query(POSTGRES_READ_AFTER)
        .bind(cursor.transaction_id)
        .bind(cursor.position)
        .bind(i64::from(limit))
        .try_map(|row| decode_event(&row))
        .fetch_all(connection)
        .await
        .map_err(StoreError::from)
}

/// `EventLog::read_after` on a given SQLite connection (inside a transaction, say).
pub async fn read_after_sqlite(
    connection: &mut sqlx::SqliteConnection,
    cursor: LogCursor,
    limit: u32,
) -> Result<Vec<RecordedEvent>, StoreError> {
    sqlx::query(SQLITE_READ_AFTER)
        .bind(cursor.position)
        .bind(i64::from(limit))
        .try_map(|row| decode_event(&row))
        .fetch_all(connection)
        .await
        .map_err(StoreError::from)
}

/// `EventLog::stream` on a given PostgreSQL connection (a snapshot transaction, say).
pub async fn stream_postgres(
    connection: &mut sqlx::PgConnection,
    aggregate_type: &str,
    aggregate_id: &str,
) -> Result<Vec<RecordedEvent>, StoreError> {
    sqlx::query(POSTGRES_STREAM)
        .bind(aggregate_type)
        .bind(aggregate_id)
        .try_map(|row| decode_event(&row))
        .fetch_all(connection)
        .await
        .map_err(StoreError::from)
}

/// `EventLog::stream` on a given SQLite connection (a snapshot transaction, say).
pub async fn stream_sqlite(
    connection: &mut sqlx::SqliteConnection,
    aggregate_type: &str,
    aggregate_id: &str,
) -> Result<Vec<RecordedEvent>, StoreError> {
    sqlx::query(SQLITE_STREAM)
        .bind(aggregate_type)
        .bind(aggregate_id)
        .try_map(|row| decode_event(&row))
        .fetch_all(connection)
        .await
        .map_err(StoreError::from)
}

/// `EventLog::head` on a given PostgreSQL connection.
pub async fn head_postgres(connection: &mut sqlx::PgConnection) -> Result<LogCursor, StoreError> {
    Ok(sqlx::query(POSTGRES_HEAD)
        .try_map(|row| decode_cursor(&row))
        .fetch_optional(connection)
        .await?
        .unwrap_or_default())
}

/// `EventLog::head` on a given SQLite connection.
pub async fn head_sqlite(connection: &mut sqlx::SqliteConnection) -> Result<LogCursor, StoreError> {
    Ok(sqlx::query(SQLITE_HEAD)
        .try_map(|row| decode_cursor(&row))
        .fetch_optional(connection)
        .await?
        .unwrap_or_default())
}

fn decode_cursor<R: Row>(row: &R) -> Result<LogCursor, sqlx::Error>
where
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(LogCursor {
        transaction_id: row.try_get("transaction_id")?,
        position: row.try_get("position")?,
    })
}

fn decode_event<R: Row>(row: &R) -> Result<RecordedEvent, sqlx::Error>
where
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Json<Box<RawValue>>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    DateTime<Utc>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(RecordedEvent {
        cursor: decode_cursor(row)?,
        aggregate_type: row.try_get("aggregate_type")?,
        aggregate_id: row.try_get("aggregate_id")?,
        sequence: row.try_get("sequence")?,
        event_type: row.try_get("event_type")?,
        event_version: row.try_get("event_version")?,
        payload: row.try_get::<Json<_>, _>("payload")?.0,
        metadata: row.try_get::<Json<_>, _>("metadata")?.0,
        recorded_at: row.try_get("recorded_at")?,
    })
}
