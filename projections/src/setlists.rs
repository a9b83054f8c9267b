//! `setlists` (+ `setlist_items`): each live setlist with its items in order. Like
//! `scores`, the projection folds every event into its own copy of the aggregate with the
//! aggregate's `apply`, then rewrites the setlist's rows from that state.

use std::collections::HashMap;

use aggregates::{Setlist, SetlistEvent};
use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use eventstore::RecordedEvent;
use sqlx::types::Json;

use crate::batch::{Param, by_aggregate, delete_in, fetch_in, ids_of, insert_rows};
use crate::changes::Owners;
use crate::decode::{decode, occurred_at, state_json};
use crate::error::ProjectionError;
use crate::runner::Projection;
use crate::transaction::ReadModelTx;

/// The projection.
#[derive(Debug, Clone, Copy, Default)]
pub struct Setlists;

/// A setlist as the projection keeps it: the aggregate's state and when it was created.
struct Stored {
    state: Setlist,
    created_at: Option<DateTime<Utc>>,
}

impl Stored {
    fn new() -> Self {
        Self {
            state: Setlist::default(),
            created_at: None,
        }
    }

    /// Folds `event` in; answers whether the setlist is in the read model after it
    /// (created, not deleted).
    fn apply(&mut self, event: &RecordedEvent) -> Result<bool, ProjectionError> {
        let decoded: SetlistEvent = decode(event)?;
        let at = occurred_at(event);
        self.created_at.get_or_insert(at);
        self.state.apply(decoded);
        Ok(self.state.owner().is_some() && !self.state.is_deleted())
    }

    /// The setlist's row and item rows as `last`, the last event folded in, left them, or
    /// `None` when it is not in the read model.
    fn rows(&self, last: &RecordedEvent) -> Result<Option<Rows>, ProjectionError> {
        let state = &self.state;
        let (Some(owner), Some(created_at)) = (
            state.owner().filter(|_| !state.is_deleted()),
            self.created_at,
        ) else {
            return Ok(None);
        };
        let event = last;
        let at = occurred_at(event);
        let state_json = state_json(state, event, "setlist")?;
        let id = event.aggregate_id.as_str();
        let setlist = vec![
            id.into(),
            owner.to_string().into(),
            state.name().into(),
            crate::fold(state.name()).into(),
            state.description().into(),
            state.event_date().into(),
            i64::try_from(state.items().len())
                .unwrap_or(i64::MAX)
                .into(),
            created_at.into(),
            at.into(),
            event.sequence.into(),
            state_json.into(),
            event.cursor.transaction_id.into(),
            event.cursor.position.into(),
        ];
        let items = state
            .items()
            .iter()
            .enumerate()
            .map(|(position, item)| {
                vec![
                    id.into(),
                    item.item_id.to_string().into(),
                    i64::try_from(position).unwrap_or(i64::MAX).into(),
                    item.score_id.to_string().into(),
                    item.note.clone().into(),
                    item.bookmark_id.map(|id| id.to_string()).into(),
                    Param::Json(item.pages.as_ref().map(|pages| serde_json::json!(pages))),
                ]
            })
            .collect();
        Ok(Some(Rows { setlist, items }))
    }
}

/// One setlist's rows.
struct Rows {
    setlist: Vec<Param>,
    items: Vec<Vec<Param>>,
}

const UPSERT_HEAD: &str = "INSERT INTO setlists (id, owner_id, name, name_folded, description, \
     event_date, item_count, created_at, updated_at, version, state, log_transaction_id, \
     log_position) VALUES";

const UPSERT_TAIL: &str = "ON CONFLICT (id) DO UPDATE SET owner_id = excluded.owner_id, \
     name = excluded.name, name_folded = excluded.name_folded, \
     description = excluded.description, event_date = excluded.event_date, \
     item_count = excluded.item_count, created_at = excluded.created_at, \
     updated_at = excluded.updated_at, version = excluded.version, state = excluded.state, \
     log_transaction_id = excluded.log_transaction_id, log_position = excluded.log_position";

/// A deleted setlist, kept for the change feed (`GET /api/v1/sync`).
const TOMBSTONE_HEAD: &str = "INSERT INTO setlist_tombstones (id, owner_id, version, \
     log_transaction_id, log_position) VALUES";

const TOMBSTONE_TAIL: &str = "ON CONFLICT (id) DO UPDATE SET owner_id = excluded.owner_id, \
     version = excluded.version, log_transaction_id = excluded.log_transaction_id, \
     log_position = excluded.log_position";

const ITEMS_HEAD: &str = "INSERT INTO setlist_items (setlist_id, item_id, position, score_id, \
     note, bookmark_id, pages) VALUES";

/// The stored setlists among `ids`.
async fn load_all(
    tx: &mut ReadModelTx<'_>,
    ids: &[String],
) -> Result<HashMap<String, Stored>, ProjectionError> {
    let rows: Vec<(String, Json<Setlist>, DateTime<Utc>)> = fetch_in(
        tx,
        "SELECT id, state, created_at FROM setlists WHERE id IN ({keys})",
        &[],
        ids,
    )
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, Json(state), created_at)| {
            (
                id,
                Stored {
                    state,
                    created_at: Some(created_at),
                },
            )
        })
        .collect())
}

/// Makes the read model hold `rows` for the setlists `ids` (each present or gone), with
/// the `tombstones` of those deleted.
async fn write(
    tx: &mut ReadModelTx<'_>,
    ids: &[String],
    rows: Vec<(String, Option<Rows>)>,
    tombstones: Vec<Vec<Param>>,
) -> Result<(), ProjectionError> {
    delete_in(
        tx,
        "DELETE FROM setlist_items WHERE setlist_id IN ({keys})",
        ids,
    )
    .await?;
    let (present, gone): (Vec<_>, Vec<_>) = rows.into_iter().partition(|(_, rows)| rows.is_some());
    let gone: Vec<String> = gone.into_iter().map(|(id, _)| id).collect();
    delete_in(tx, "DELETE FROM setlists WHERE id IN ({keys})", &gone).await?;
    let (setlists, items): (Vec<_>, Vec<_>) = present
        .into_iter()
        .filter_map(|(_, rows)| rows)
        .map(|rows| (rows.setlist, rows.items))
        .unzip();
    insert_rows(tx, UPSERT_HEAD, UPSERT_TAIL, setlists).await?;
    insert_rows(tx, ITEMS_HEAD, "", items.into_iter().flatten().collect()).await?;
    insert_rows(tx, TOMBSTONE_HEAD, TOMBSTONE_TAIL, tombstones).await?;
    Ok(())
}

impl Projection for Setlists {
    fn name(&self) -> &'static str {
        "setlists"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["setlists", "setlist_items", "setlist_tombstones"]
    }

    async fn apply_batch(
        &self,
        tx: &mut ReadModelTx<'_>,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        self.apply_batch_for_owners(tx, events).await.map(drop)
    }

    /// Every touched setlist read at once, folded in memory, its rows rewritten with one
    /// statement per table.
    async fn apply_batch_for_owners(
        &self,
        tx: &mut ReadModelTx<'_>,
        events: &[RecordedEvent],
    ) -> Result<Owners, ProjectionError> {
        let groups = by_aggregate(events, Setlist::TYPE);
        if groups.is_empty() {
            return Ok(Owners::new());
        }
        let ids = ids_of(&groups);
        let mut stored = load_all(tx, &ids).await?;
        let mut rows = Vec::with_capacity(groups.len());
        let mut tombstones = Vec::new();
        let mut owners = Owners::new();
        for (id, events) in groups {
            let loaded = stored.remove(id);
            let mut present = loaded.is_some();
            let mut setlist = loaded.unwrap_or_else(Stored::new);
            for event in &events {
                // As applied one by one: an event that took the setlist out of the read
                // model deleted its row, so the next one starts again from nothing.
                if !present {
                    setlist = Stored::new();
                }
                let owner = setlist.state.owner().filter(|_| present);
                present = setlist.apply(event)?;
                if let (Some(owner), false) = (owner, present) {
                    tombstones.push(vec![
                        id.into(),
                        owner.to_string().into(),
                        event.sequence.into(),
                        event.cursor.transaction_id.into(),
                        event.cursor.position.into(),
                    ]);
                    owners.insert(owner.to_string());
                }
            }
            // The rows are written once, as the last event left them.
            let after = match events.last() {
                Some(last) if present => setlist.rows(last)?,
                _ => None,
            };
            if let Some(owner) = setlist.state.owner().filter(|_| after.is_some()) {
                owners.insert(owner.to_string());
            }
            rows.push((id.to_owned(), after));
        }
        write(tx, &ids, rows, tombstones).await?;
        Ok(owners)
    }
}
