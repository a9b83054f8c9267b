//! `setlists` (+ `setlist_items`): each live setlist with its items in order. Like
//! `scores`, the projection folds every event into its own copy of the aggregate with the
//! aggregate's `apply`, then rewrites the setlist's rows from that state.

use aggregates::{Setlist, SetlistEvent};
use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::Aggregate;
use eventstore::RecordedEvent;
use serde_json::Value;

use crate::decode::{decode, occurred_at, stored_state};
use crate::error::ProjectionError;
use crate::runner::Projection;
use crate::transaction::ReadModelTx;

/// The projection.
#[derive(Debug, Clone, Copy, Default)]
pub struct Setlists;

impl Projection for Setlists {
    fn name(&self) -> &'static str {
        "setlists"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["setlists", "setlist_items"]
    }

    async fn apply(
        &self,
        tx: &mut ReadModelTx<'_>,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        if event.aggregate_type != Setlist::TYPE {
            return Ok(());
        }
        let decoded: SetlistEvent = decode(event)?;
        let at = occurred_at(event);
        let id = event.aggregate_id.clone();
        let stored = crate::fetch_optional!(
            tx,
            (Value, DateTime<Utc>),
            "SELECT state, created_at FROM setlists WHERE id = $1",
            id.clone()
        )?;
        let (mut state, created_at) = match stored {
            Some((state, created_at)) => (stored_state::<Setlist>(state, "setlist")?, created_at),
            None => (Setlist::default(), at),
        };
        state.apply(decoded);

        crate::execute!(
            tx,
            "DELETE FROM setlist_items WHERE setlist_id = $1",
            id.clone()
        )?;
        let Some(owner) = state.owner().filter(|_| !state.is_deleted()) else {
            crate::execute!(tx, "DELETE FROM setlists WHERE id = $1", id.clone())?;
            return Ok(());
        };
        let state_json =
            serde_json::to_value(&state).map_err(|error| ProjectionError::Undecodable {
                position: event.position(),
                reason: format!("setlist state: {error}"),
            })?;
        crate::execute!(
            tx,
            "INSERT INTO setlists (id, owner_id, name, name_folded, description, event_date, \
             item_count, created_at, updated_at, version, state) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (id) DO UPDATE SET owner_id = excluded.owner_id, name = excluded.name, \
             name_folded = excluded.name_folded, description = excluded.description, \
             event_date = excluded.event_date, item_count = excluded.item_count, \
             created_at = excluded.created_at, updated_at = excluded.updated_at, \
             version = excluded.version, state = excluded.state",
            id.clone(),
            owner.to_string(),
            state.name().to_owned(),
            crate::fold(state.name()),
            state.description().map(str::to_owned),
            state.event_date().map(|date: NaiveDate| date),
            i64::try_from(state.items().len()).unwrap_or(i64::MAX),
            created_at,
            at,
            event.sequence,
            state_json,
        )?;
        for (position, item) in state.items().iter().enumerate() {
            crate::execute!(
                tx,
                "INSERT INTO setlist_items (setlist_id, item_id, position, score_id, note) \
                 VALUES ($1, $2, $3, $4, $5)",
                id.clone(),
                item.item_id.to_string(),
                i64::try_from(position).unwrap_or(i64::MAX),
                item.score_id.to_string(),
                item.note.clone(),
            )?;
        }
        Ok(())
    }
}
