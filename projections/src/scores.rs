//! `scores` (+ `score_tags`, `score_instruments`): the score library as clients list and
//! analysts query it. The projection keeps its own copy of each Score's state and folds
//! every event into it with the aggregate's own `apply`, so the read model can never
//! disagree with the rules about what an event means.

use std::collections::BTreeSet;

use aggregates::{ProcessingStatus, Score, ScoreEvent, ScoreStatus};
use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use eventstore::RecordedEvent;
use serde_json::Value;

use crate::decode::{decode, occurred_at, stored_state, to_i64};
use crate::error::ProjectionError;
use crate::runner::Projection;
use crate::transaction::ReadModelTx;

/// The projection.
#[derive(Debug, Clone, Copy, Default)]
pub struct Scores;

/// Unicode-aware case folding for case-insensitive search (the databases' `lower()` is
/// ASCII-only on SQLite and locale-dependent on PostgreSQL).
pub fn fold(text: &str) -> String {
    text.to_lowercase()
}

struct Row {
    state: Score,
    created_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
}

/// The projection's working copy of a Score and its two timestamps.
type StoredRow = (Value, Option<DateTime<Utc>>, Option<DateTime<Utc>>);

async fn load(tx: &mut ReadModelTx<'_>, id: &str) -> Result<Option<Row>, ProjectionError> {
    const QUERY: &str = "SELECT state, created_at, updated_at FROM scores WHERE id = $1";
    let row: Option<StoredRow> = match tx {
        ReadModelTx::Sqlite(transaction, _) => {
            sqlx::query_as(QUERY)
                .bind(id)
                .fetch_optional(&mut **transaction)
                .await?
        }
        ReadModelTx::Postgres(transaction) => {
            sqlx::query_as(QUERY)
                .bind(id)
                .fetch_optional(&mut **transaction)
                .await?
        }
    };
    row.map(|(state, created_at, updated_at)| {
        let state = stored_state(state, "score")?;
        Ok(Row {
            state,
            created_at,
            updated_at,
        })
    })
    .transpose()
}

fn status_name(status: ProcessingStatus) -> &'static str {
    match status {
        ProcessingStatus::Pending => "pending",
        ProcessingStatus::Ready => "ready",
        ProcessingStatus::Failed => "failed",
    }
}

impl Projection for Scores {
    fn name(&self) -> &'static str {
        "scores"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["scores", "score_tags", "score_instruments"]
    }

    async fn apply(
        &self,
        tx: &mut ReadModelTx<'_>,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        if event.aggregate_type != Score::TYPE {
            return Ok(());
        }
        let decoded: ScoreEvent = decode(event)?;
        let occurred_at = occurred_at(event);
        let id = event.aggregate_id.as_str();
        let loaded = load(tx, id).await?;
        let existed = loaded.is_some();
        let mut row = loaded.unwrap_or(Row {
            state: Score::default(),
            created_at: None,
            updated_at: None,
        });
        let (tags_before, instruments_before) = folded_lists(&row.state);
        match &decoded {
            ScoreEvent::UploadConfirmed { .. } => {
                row.created_at = Some(occurred_at);
                row.updated_at = Some(occurred_at);
            }
            ScoreEvent::ScoreMetadataUpdated { .. } => row.updated_at = Some(occurred_at),
            _ => {}
        }
        row.state.apply(decoded);

        let lifecycle = match row.state.status() {
            Some(ScoreStatus::Requested) => "requested",
            Some(ScoreStatus::Confirmed) => "confirmed",
            // Ended uploads and deleted scores leave the read model.
            _ => {
                if existed {
                    delete_score(tx, id).await?;
                }
                return Ok(());
            }
        };
        let state = &row.state;
        let (Some(owner), Some(file)) = (state.owner(), state.file()) else {
            if existed {
                delete_score(tx, id).await?;
            }
            return Ok(());
        };
        let metadata = state.metadata().cloned().unwrap_or_default();
        let processing_error = state.processing_failures().values().next().cloned();
        let pdf = state
            .pdf_info()
            .and_then(|info| serde_json::to_value(info).ok());
        let thumbnail = state.thumbnail().map(
            |thumbnail| serde_json::json!({"width": thumbnail.width, "height": thumbnail.height}),
        );
        let state_json =
            serde_json::to_value(state).map_err(|error| ProjectionError::Undecodable {
                position: event.position(),
                reason: format!("score state: {error}"),
            })?;
        crate::execute!(
            tx,
            "INSERT INTO scores (id, owner_id, lifecycle, title, composer, arranger, genre, key, \
             instrumentation, tags, rating, difficulty, duration_seconds, reference, notes, filename, \
             size_bytes, mime_type, processing_status, processing_error, pdf, thumbnail, title_folded, \
             composer_folded, created_at, updated_at, version, state) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
             $19, $20, $21, $22, $23, $24, $25, $26, $27, $28) \
             ON CONFLICT (id) DO UPDATE SET owner_id = excluded.owner_id, lifecycle = excluded.lifecycle, \
             title = excluded.title, composer = excluded.composer, arranger = excluded.arranger, \
             genre = excluded.genre, key = excluded.key, instrumentation = excluded.instrumentation, \
             tags = excluded.tags, rating = excluded.rating, difficulty = excluded.difficulty, \
             duration_seconds = excluded.duration_seconds, reference = excluded.reference, \
             notes = excluded.notes, filename = excluded.filename, size_bytes = excluded.size_bytes, \
             mime_type = excluded.mime_type, processing_status = excluded.processing_status, \
             processing_error = excluded.processing_error, pdf = excluded.pdf, \
             thumbnail = excluded.thumbnail, title_folded = excluded.title_folded, \
             composer_folded = excluded.composer_folded, created_at = excluded.created_at, \
             updated_at = excluded.updated_at, version = excluded.version, state = excluded.state",
            id.to_owned(),
            owner.to_string(),
            lifecycle,
            metadata.title.clone(),
            metadata.composer.clone(),
            metadata.arranger.clone(),
            metadata.genre.clone(),
            metadata.key.clone(),
            serde_json::to_value(&metadata.instrumentation).unwrap_or(Value::Array(Vec::new())),
            serde_json::to_value(&metadata.tags).unwrap_or(Value::Array(Vec::new())),
            metadata.rating.map(i64::from),
            metadata.difficulty.map(i64::from),
            metadata.duration_seconds.map(i64::from),
            metadata.reference.clone(),
            metadata.notes.clone(),
            file.filename.clone(),
            to_i64(file.size_bytes.0),
            file.mime_type.clone(),
            status_name(state.processing_status()),
            processing_error,
            pdf,
            thumbnail,
            fold(&metadata.title),
            metadata.composer.as_deref().map(fold),
            row.created_at,
            row.updated_at,
            event.sequence,
            state_json,
        )?;
        // Most events (confirmations, PDF info, thumbnails, edits of other fields) leave
        // the lists as they were: no statements for them.
        let (tags, instruments) = folded_lists(state);
        if !existed || tags != tags_before {
            replace_list(tx, &TAGS, id, existed, tags).await?;
        }
        if !existed || instruments != instruments_before {
            replace_list(tx, &INSTRUMENTS, id, existed, instruments).await?;
        }
        Ok(())
    }
}

/// A score's tags and instruments as the filter tables hold them: folded, each once.
fn folded_lists(state: &Score) -> (BTreeSet<String>, BTreeSet<String>) {
    let Some(metadata) = state.metadata() else {
        return (BTreeSet::new(), BTreeSet::new());
    };
    fn fold_all(names: &[String]) -> BTreeSet<String> {
        names.iter().map(|name| fold(name)).collect()
    }
    (
        fold_all(&metadata.tags),
        fold_all(&metadata.instrumentation),
    )
}

/// A filter table: one row per score and folded name.
struct FilterTable {
    delete: &'static str,
    insert: &'static str,
}

const TAGS: FilterTable = FilterTable {
    delete: "DELETE FROM score_tags WHERE score_id = $1",
    insert: "INSERT INTO score_tags (score_id, tag_folded) VALUES ($1, $2)",
};

const INSTRUMENTS: FilterTable = FilterTable {
    delete: "DELETE FROM score_instruments WHERE score_id = $1",
    insert: "INSERT INTO score_instruments (score_id, instrument_folded) VALUES ($1, $2)",
};

/// Makes `table` hold exactly `names` for the score (`existed`: it may hold rows already).
async fn replace_list(
    tx: &mut ReadModelTx<'_>,
    table: &FilterTable,
    id: &str,
    existed: bool,
    names: BTreeSet<String>,
) -> Result<(), ProjectionError> {
    if existed {
        crate::execute!(&mut *tx, table.delete, id.to_owned())?;
    }
    for name in names {
        crate::execute!(&mut *tx, table.insert, id.to_owned(), name)?;
    }
    Ok(())
}

/// Takes a score and its filter rows out of the read model.
async fn delete_score(tx: &mut ReadModelTx<'_>, id: &str) -> Result<(), ProjectionError> {
    for table in [&TAGS, &INSTRUMENTS] {
        crate::execute!(&mut *tx, table.delete, id.to_owned())?;
    }
    crate::execute!(tx, "DELETE FROM scores WHERE id = $1", id.to_owned())?;
    Ok(())
}
