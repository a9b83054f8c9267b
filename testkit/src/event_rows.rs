//! Event rows written straight into the log, many to a statement: for long histories that
//! would take hours through one command and one commit at a time. Every event is still
//! decided by the real aggregate on its real state, so the rows are exactly what the
//! service stores; only `recorded_at` and the positions are the database's.

use std::error::Error;

use cqrs_es::{Aggregate, DomainEvent};
use eventstore::Database;
use serde_json::Value;
use sqlx::QueryBuilder;

type RowsResult<T> = Result<T, Box<dyn Error + Send + Sync>>;

/// Rows per `INSERT` statement: 7 bound columns stay under SQLite's 32,766 variables.
const ROWS_PER_INSERT: usize = 4_000;

/// One row of the `events` table.
#[derive(Debug, PartialEq)]
pub struct EventRow {
    aggregate_type: &'static str,
    aggregate_id: String,
    sequence: i64,
    event_type: String,
    event_version: String,
    payload: Value,
    metadata: Value,
}

/// One aggregate's stream while a history is written: its state and version.
pub struct Stream<A> {
    id: String,
    pub state: A,
    version: i64,
}

impl<A: Aggregate> Stream<A> {
    pub fn new(id: &impl std::fmt::Display) -> Self {
        Self {
            id: id.to_string(),
            state: A::default(),
            version: 0,
        }
    }

    /// Decides `decide` on the stream's state and applies its events; answers their rows,
    /// each with `metadata`.
    pub fn run<E>(
        &mut self,
        metadata: &Value,
        decide: impl FnOnce(&A) -> Result<Vec<A::Event>, E>,
    ) -> RowsResult<Vec<EventRow>>
    where
        E: Error + Send + Sync + 'static,
    {
        let mut rows = Vec::new();
        for event in decide(&self.state)? {
            self.version += 1;
            rows.push(EventRow {
                aggregate_type: A::TYPE,
                aggregate_id: self.id.clone(),
                sequence: self.version,
                event_type: event.event_type(),
                event_version: event.event_version(),
                payload: serde_json::to_value(&event)?,
                metadata: metadata.clone(),
            });
            self.state.apply(event);
        }
        Ok(rows)
    }
}

/// A confirmed score's events — `RequestUpload` then `ConfirmUpload` at `at`, as the
/// upload routes issue them — each with `metadata` (the event metadata) attached.
pub fn confirmed_score_rows(
    owner: aggregates::UserId,
    upload_id: aggregates::UploadId,
    at: chrono::DateTime<chrono::Utc>,
    file: (&str, u64),
    score: aggregates::ScoreMetadata,
    metadata: &Value,
) -> RowsResult<Vec<EventRow>> {
    use aggregates::{Bytes, Score, ScoreCommand};
    let (filename, size) = file;
    let mut stream = Stream::<Score>::new(&upload_id);
    let mut rows = stream.run(metadata, |state| {
        state.decide(ScoreCommand::RequestUpload {
            upload_id,
            owner,
            filename: filename.to_owned(),
            size_bytes: Bytes(size),
            mime_type: "application/pdf".to_owned(),
            sha256: None,
            // objectstore::score_object_key
            object_key: format!("{owner}/scores/{upload_id}/original.pdf"),
            expires_at: at + chrono::Duration::hours(1),
        })
    })?;
    rows.extend(stream.run(metadata, |state| {
        state.decide(ScoreCommand::ConfirmUpload {
            user_id: owner,
            now: at,
            size_bytes: Bytes(size),
            etag: format!("\"{:032x}\"", upload_id.into_uuid().as_u128()),
            sha256: None,
            metadata: score,
        })
    })?);
    Ok(rows)
}

/// Appends `rows` in one transaction, `ROWS_PER_INSERT` a statement.
pub async fn insert_event_rows(database: &Database, rows: &[EventRow]) -> RowsResult<()> {
    const INSERT: &str = "INSERT INTO events \
        (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) ";
    macro_rules! insert_on {
        ($pool:expr, $backend:ty) => {{
            let mut transaction = $pool.begin().await?;
            for chunk in rows.chunks(ROWS_PER_INSERT) {
                let mut query = QueryBuilder::<$backend>::new(INSERT);
                query.push_values(chunk, |mut values, row| {
                    values
                        .push_bind(row.aggregate_type)
                        .push_bind(&row.aggregate_id)
                        .push_bind(row.sequence)
                        .push_bind(&row.event_type)
                        .push_bind(&row.event_version)
                        .push_bind(&row.payload)
                        .push_bind(&row.metadata);
                });
                query.build().execute(&mut *transaction).await?;
            }
            transaction.commit().await?;
        }};
    }
    match database {
        Database::Sqlite(pool) => insert_on!(pool, sqlx::Sqlite),
        Database::Postgres(pool) => insert_on!(pool, sqlx::Postgres),
    }
    Ok(())
}
