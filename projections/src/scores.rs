//! `scores` (+ `score_tags`, `score_instruments`): the score library as clients list and
//! analysts query it. The projection keeps its own copy of each Score's state and folds
//! every event into it with the aggregate's own `apply`, so the read model can never
//! disagree with the rules about what an event means.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aggregates::{ProcessingStatus, Score, ScoreEvent, ScoreStatus};
use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use eventstore::RecordedEvent;
use serde_json::Value;
use sqlx::types::Json;

use crate::batch::{Param, by_aggregate, delete_in, fetch_in, ids_of, insert_rows};
use crate::changes::Owners;
use crate::decode::{decode, occurred_at, state_json, to_i64};
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

fn status_name(status: ProcessingStatus) -> &'static str {
    match status {
        ProcessingStatus::Pending => "pending",
        ProcessingStatus::Ready => "ready",
        ProcessingStatus::Failed => "failed",
    }
}

const UPSERT_HEAD: &str = "INSERT INTO scores (id, owner_id, lifecycle, title, composer, arranger, \
     genre, key, instrumentation, tags, rating, difficulty, duration_seconds, reference, notes, \
     filename, size_bytes, mime_type, processing_status, processing_error, pdf, thumbnail, \
     title_folded, composer_folded, created_at, updated_at, version, state, facets, sha256, \
     log_transaction_id, log_position, bookmarks_folded) VALUES";

const UPSERT_TAIL: &str = "ON CONFLICT (id) DO UPDATE SET owner_id = excluded.owner_id, \
     lifecycle = excluded.lifecycle, title = excluded.title, composer = excluded.composer, \
     arranger = excluded.arranger, genre = excluded.genre, key = excluded.key, \
     instrumentation = excluded.instrumentation, tags = excluded.tags, rating = excluded.rating, \
     difficulty = excluded.difficulty, duration_seconds = excluded.duration_seconds, \
     reference = excluded.reference, notes = excluded.notes, filename = excluded.filename, \
     size_bytes = excluded.size_bytes, mime_type = excluded.mime_type, \
     processing_status = excluded.processing_status, \
     processing_error = excluded.processing_error, pdf = excluded.pdf, \
     thumbnail = excluded.thumbnail, title_folded = excluded.title_folded, \
     composer_folded = excluded.composer_folded, created_at = excluded.created_at, \
     updated_at = excluded.updated_at, version = excluded.version, state = excluded.state, \
     facets = excluded.facets, sha256 = excluded.sha256, \
     log_transaction_id = excluded.log_transaction_id, log_position = excluded.log_position, \
     bookmarks_folded = excluded.bookmarks_folded";

/// A listed score's deletion, kept for the change feed (`GET /api/v1/sync`) as long as
/// the read model lives: a client that saw the score learns that it went.
const TOMBSTONE_HEAD: &str =
    "INSERT INTO score_tombstones (id, owner_id, version, log_transaction_id, log_position) VALUES";

const TOMBSTONE_TAIL: &str = "ON CONFLICT (id) DO UPDATE SET owner_id = excluded.owner_id, \
     version = excluded.version, log_transaction_id = excluded.log_transaction_id, \
     log_position = excluded.log_position";

impl Row {
    fn new() -> Self {
        Self {
            state: Score::default(),
            created_at: None,
            updated_at: None,
        }
    }

    /// Folds one event in, timestamps included.
    fn apply(&mut self, event: &RecordedEvent) -> Result<(), ProjectionError> {
        let decoded: ScoreEvent = decode(event)?;
        let occurred_at = occurred_at(event);
        match &decoded {
            ScoreEvent::UploadConfirmed { .. } => {
                self.created_at = Some(occurred_at);
                self.updated_at = Some(occurred_at);
            }
            ScoreEvent::ScoreMetadataUpdated { .. } => self.updated_at = Some(occurred_at),
            _ => {}
        }
        self.state.apply(decoded);
        Ok(())
    }

    /// Whether the score is in the read model (not an ended upload, not deleted).
    fn present(&self) -> bool {
        let state = &self.state;
        matches!(
            state.status(),
            Some(ScoreStatus::Requested | ScoreStatus::Confirmed)
        ) && state.owner().is_some()
            && state.file().is_some()
    }

    /// The owner and processing status the score counts under in `score_counts`: only
    /// confirmed scores are counted (an upload in progress is not in the library).
    fn counted_as(&self) -> Option<(String, &'static str)> {
        if !self.present() || self.state.status() != Some(ScoreStatus::Confirmed) {
            return None;
        }
        let owner = self.state.owner()?;
        Some((
            owner.to_string(),
            status_name(self.state.processing_status()),
        ))
    }

    /// The `scores` row's values after `event`, or `None` when the score is not in the
    /// read model (ended uploads, deleted scores).
    fn values(
        &self,
        id: &str,
        event: &RecordedEvent,
    ) -> Result<Option<Vec<Param>>, ProjectionError> {
        // `present` alone decides, so the fold's view and the written row never disagree.
        if !self.present() {
            return Ok(None);
        }
        let lifecycle = match self.state.status() {
            Some(ScoreStatus::Requested) => "requested",
            Some(ScoreStatus::Confirmed) => "confirmed",
            _ => return Ok(None),
        };
        let state = &self.state;
        let (Some(owner), Some(file)) = (state.owner(), state.file()) else {
            return Ok(None);
        };
        let metadata = state.metadata().cloned().unwrap_or_default();
        let processing_error = state.processing_failures().values().next().cloned();
        let pdf = state
            .pdf_info()
            .and_then(|info| serde_json::to_value(info).ok());
        let thumbnail = state.thumbnail().map(
            |thumbnail| serde_json::json!({"width": thumbnail.width, "height": thumbnail.height}),
        );
        let state_json = state_json(state, event, "score")?;
        let list =
            |names: &[String]| serde_json::to_value(names).unwrap_or(Value::Array(Vec::new()));
        let title_folded = fold(&metadata.title);
        let composer_folded = metadata.composer.as_deref().map(fold);
        Ok(Some(vec![
            id.into(),
            owner.to_string().into(),
            lifecycle.into(),
            metadata.title.into(),
            metadata.composer.into(),
            metadata.arranger.into(),
            metadata.genre.into(),
            metadata.key.into(),
            list(&metadata.instrumentation).into(),
            list(&metadata.tags).into(),
            metadata.rating.map(i64::from).into(),
            metadata.difficulty.map(i64::from).into(),
            metadata.duration_seconds.map(i64::from).into(),
            metadata.reference.into(),
            metadata.notes.into(),
            file.filename.clone().into(),
            to_i64(file.size_bytes.0).into(),
            file.mime_type.clone().into(),
            status_name(state.processing_status()).into(),
            processing_error.into(),
            pdf.into(),
            thumbnail.into(),
            title_folded.into(),
            composer_folded.into(),
            self.created_at.into(),
            self.updated_at.into(),
            event.sequence.into(),
            state_json.into(),
            facets(&folded_lists(state)).into(),
            file.sha256.clone().into(),
            event.cursor.transaction_id.into(),
            event.cursor.position.into(),
            bookmarks_folded(state).into(),
        ]))
    }
}

/// What the library search reads of a score's bookmarks: each one's folded title and
/// composer, a line each (a search for text spanning two lines is not a musician's).
fn bookmarks_folded(state: &Score) -> String {
    let mut folded = String::new();
    for bookmark in state.bookmarks().values() {
        for text in std::iter::once(&bookmark.title).chain(&bookmark.composer) {
            if !folded.is_empty() {
                folded.push('\n');
            }
            folded.push_str(&fold(text));
        }
    }
    folded
}

impl Projection for Scores {
    fn name(&self) -> &'static str {
        "scores"
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "scores",
            "score_tags",
            "score_instruments",
            "score_counts",
            "score_tombstones",
        ]
    }

    async fn apply_batch(
        &self,
        tx: &mut ReadModelTx<'_>,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        self.apply_batch_for_owners(tx, events).await.map(drop)
    }

    /// Every touched score read at once, folded in memory, written back with one statement
    /// per table.
    async fn apply_batch_for_owners(
        &self,
        tx: &mut ReadModelTx<'_>,
        events: &[RecordedEvent],
    ) -> Result<Owners, ProjectionError> {
        let groups = by_aggregate(events, Score::TYPE);
        if groups.is_empty() {
            return Ok(Owners::new());
        }
        let mut stored = load_all(tx, &ids_of(&groups)).await?;
        let mut changes = Changes::default();
        for (id, events) in groups {
            let loaded = stored.remove(id);
            let existed = loaded.is_some();
            let mut row = loaded.unwrap_or_else(Row::new);
            let before = folded_lists(&row.state);
            let counted_before = row.counted_as();
            // As applied one by one: an event that takes the score out of the read model
            // deletes its row, and the next one starts again from nothing.
            let mut present = existed;
            for event in &events {
                if !present {
                    row = Row::new();
                }
                let listed = present && row.state.status() == Some(ScoreStatus::Confirmed);
                let owner = row.state.owner();
                row.apply(event)?;
                present = row.present();
                // Per event, not per batch: a rebuild's batches differ from the live ones,
                // and must leave the same tombstones.
                if let (true, false, Some(owner)) = (listed, present, owner) {
                    changes.tombstone(id, &owner.to_string(), event);
                }
            }
            // The row is written once, as the last event left it.
            let values = match events.last() {
                Some(last) if present => row.values(id, last)?,
                _ => None,
            };
            if let Some(owner) = row.state.owner().filter(|_| values.is_some()) {
                changes.owners.insert(owner.to_string());
            }
            let counted_after = if present { row.counted_as() } else { None };
            if counted_before != counted_after {
                changes.count(counted_before, -1);
                changes.count(counted_after, 1);
            }
            changes.record(
                id,
                existed,
                &before,
                values.map(|values| (values, folded_lists(&row.state))),
            );
        }
        let owners = std::mem::take(&mut changes.owners);
        changes.write(tx).await?;
        Ok(owners)
    }
}

/// A batch's writes, by table.
#[derive(Default)]
struct Changes {
    deleted: Vec<String>,
    upserts: Vec<Vec<Param>>,
    tags_cleared: Vec<String>,
    instruments_cleared: Vec<String>,
    tags: Vec<Vec<Param>>,
    instruments: Vec<Vec<Param>>,
    /// Change of `score_counts` by (owner, processing status).
    counts: BTreeMap<(String, &'static str), i64>,
    tombstones: Vec<Vec<Param>>,
    /// Whose listed scores changed or went.
    owners: Owners,
}

type Lists = (BTreeSet<String>, BTreeSet<String>);

impl Changes {
    /// One score's end state: gone, or its row and lists (`before`: the lists stored).
    fn record(
        &mut self,
        id: &str,
        existed: bool,
        before: &Lists,
        after: Option<(Vec<Param>, Lists)>,
    ) {
        let Some((values, (tags, instruments))) = after else {
            if existed {
                self.deleted.push(id.to_owned());
            }
            return;
        };
        self.upserts.push(values);
        for (names, before, cleared, rows) in [
            (tags, &before.0, &mut self.tags_cleared, &mut self.tags),
            (
                instruments,
                &before.1,
                &mut self.instruments_cleared,
                &mut self.instruments,
            ),
        ] {
            if existed && names == *before {
                continue;
            }
            if existed {
                cleared.push(id.to_owned());
            }
            rows.extend(names.into_iter().map(|name| vec![id.into(), name.into()]));
        }
    }

    /// `id`, listed under `owner`, left the read model with `event`.
    fn tombstone(&mut self, id: &str, owner: &str, event: &RecordedEvent) {
        self.owners.insert(owner.to_owned());
        self.tombstones.push(vec![
            id.into(),
            owner.into(),
            event.sequence.into(),
            event.cursor.transaction_id.into(),
            event.cursor.position.into(),
        ]);
    }

    fn count(&mut self, key: Option<(String, &'static str)>, change: i64) {
        if let Some(key) = key {
            *self.counts.entry(key).or_default() += change;
        }
    }

    async fn write(self, tx: &mut ReadModelTx<'_>) -> Result<(), ProjectionError> {
        let tags_cleared = [self.deleted.as_slice(), &self.tags_cleared].concat();
        let instruments_cleared = [self.deleted.as_slice(), &self.instruments_cleared].concat();
        delete_in(
            tx,
            "DELETE FROM score_tags WHERE score_id IN ({keys})",
            &tags_cleared,
        )
        .await?;
        delete_in(
            tx,
            "DELETE FROM score_instruments WHERE score_id IN ({keys})",
            &instruments_cleared,
        )
        .await?;
        delete_in(tx, "DELETE FROM scores WHERE id IN ({keys})", &self.deleted).await?;
        insert_rows(tx, UPSERT_HEAD, UPSERT_TAIL, self.upserts).await?;
        insert_rows(tx, TOMBSTONE_HEAD, TOMBSTONE_TAIL, self.tombstones).await?;
        insert_rows(
            tx,
            "INSERT INTO score_tags (score_id, tag_folded) VALUES",
            "",
            self.tags,
        )
        .await?;
        insert_rows(
            tx,
            "INSERT INTO score_instruments (score_id, instrument_folded) VALUES",
            "",
            self.instruments,
        )
        .await?;
        write_counts(tx, self.counts).await
    }
}

/// Adds each change to its counter; a counter that reaches zero goes (so that a rebuild,
/// whose batches differ from the live ones, leaves the same rows).
async fn write_counts(
    tx: &mut ReadModelTx<'_>,
    counts: BTreeMap<(String, &'static str), i64>,
) -> Result<(), ProjectionError> {
    let mut emptied = Vec::new();
    let mut rows = Vec::new();
    for ((owner, status), change) in counts {
        if change == 0 {
            continue;
        }
        if change < 0 {
            emptied.push(owner.clone());
        }
        rows.push(vec![owner.into(), status.into(), change.into()]);
    }
    insert_rows(
        tx,
        "INSERT INTO score_counts (owner_id, processing_status, scores) VALUES",
        "ON CONFLICT (owner_id, processing_status) \
         DO UPDATE SET scores = score_counts.scores + excluded.scores",
        rows,
    )
    .await?;
    emptied.dedup();
    delete_in(
        tx,
        "DELETE FROM score_counts WHERE scores = 0 AND owner_id IN ({keys})",
        &emptied,
    )
    .await?;
    Ok(())
}

/// The score's tags and instruments as the library's index finds them: `"t:<tag>"` and
/// `"i:<instrument>"`, folded, in a JSON array.
fn facets((tags, instruments): &Lists) -> Value {
    let tags = tags.iter().map(|tag| format!("t:{tag}"));
    let instruments = instruments.iter().map(|name| format!("i:{name}"));
    Value::Array(tags.chain(instruments).map(Value::String).collect())
}

/// A stored score: id, the projection's working copy of its state, its two timestamps.
type StoredRow = (
    String,
    Json<Score>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

/// The stored rows of `ids` (those that have one).
async fn load_all(
    tx: &mut ReadModelTx<'_>,
    ids: &[String],
) -> Result<HashMap<String, Row>, ProjectionError> {
    let rows: Vec<StoredRow> = fetch_in(
        tx,
        "SELECT id, state, created_at, updated_at FROM scores WHERE id IN ({keys})",
        &[],
        ids,
    )
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, Json(state), created_at, updated_at)| {
            (
                id,
                Row {
                    state,
                    created_at,
                    updated_at,
                },
            )
        })
        .collect())
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
