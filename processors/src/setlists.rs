//! Setlist cleanup: a deleted score, or a removed bookmark, leaves every setlist, as
//! `SetlistItemRemoved` events in each setlist's own history (reason `score_deleted` or
//! `bookmark_removed`). Reads hide such items at once; this processor makes the histories
//! say why.
//!
//! Three events lead here. `ScoreDeleted` and `BookmarkRemoved`: the setlists holding the
//! score (or its bookmark) are found in the `setlists` read model, once that has applied
//! everything up to the event. An item added in the instant its score was being deleted or
//! its bookmark removed lands after that in the log: `SetlistItemAdded` of a score already
//! deleted, or of a bookmark already gone, removes it again.

use std::sync::Arc;

use aggregates::{
    BookmarkId, Score, ScoreEvent, ScoreId, ScoreStatus, Setlist, SetlistCommand, SetlistEvent,
};
use cqrs_es::Aggregate;
use eventstore::{AggregateStore, Database, RecordedEvent};
use projections::{ReadModelTx, peek_checkpoint};

use crate::commands::{caused_by, classify, score_event};
use crate::runner::{Processor, ProcessorError};

pub struct SetlistCleanup {
    pub database: Database,
    pub scores: Arc<AggregateStore<Score>>,
    pub setlists: Arc<AggregateStore<Setlist>>,
}

fn transient(error: impl std::fmt::Display) -> ProcessorError {
    ProcessorError::Transient(error.to_string())
}

impl SetlistCleanup {
    /// The setlists holding the score `event` belongs to (or only its `bookmark`), per the
    /// read model once it has reached `event`.
    async fn setlists_holding(
        &self,
        event: &RecordedEvent,
        bookmark: Option<BookmarkId>,
    ) -> Result<Vec<String>, ProcessorError> {
        // The read model only moves forward: once its checkpoint is past the deletion,
        // any later read of its rows reflects it.
        let applied = peek_checkpoint(&self.database, "setlists")
            .await
            .map_err(transient)?;
        if applied < event.cursor {
            return Err(ProcessorError::Transient(
                "the setlists read model has not reached the deletion yet".to_owned(),
            ));
        }
        let mut tx = ReadModelTx::begin_read(&self.database)
            .await
            .map_err(transient)?;
        // `$2` null: every item of the score.
        const QUERY: &str = "SELECT DISTINCT setlist_id FROM setlist_items \
             WHERE score_id = $1 AND (CAST($2 AS TEXT) IS NULL OR bookmark_id = $2)";
        let bookmark = bookmark.map(|id| id.to_string());
        let ids: Vec<String> = match &mut tx {
            ReadModelTx::Sqlite(transaction, _) => {
                sqlx::query_scalar(QUERY)
                    .bind(&event.aggregate_id)
                    .bind(&bookmark)
                    .fetch_all(&mut **transaction)
                    .await
            }
            ReadModelTx::Postgres(transaction) => {
                sqlx::query_scalar(QUERY)
                    .bind(&event.aggregate_id)
                    .bind(&bookmark)
                    .fetch_all(&mut **transaction)
                    .await
            }
        }
        .map_err(transient)?;
        tx.rollback().await.map_err(transient)?;
        Ok(ids)
    }

    /// Takes the score's items (or only its `bookmark`'s) out of the setlist.
    async fn remove(
        &self,
        setlist_id: &str,
        score_id: ScoreId,
        bookmark: Option<BookmarkId>,
        event: &RecordedEvent,
    ) -> Result<(), ProcessorError> {
        let command = match bookmark {
            None => SetlistCommand::RemoveScoreFromSetlist { score_id },
            Some(bookmark_id) => SetlistCommand::RemoveBookmarkFromSetlist {
                score_id,
                bookmark_id,
            },
        };
        self.setlists
            .execute(setlist_id, command, &caused_by(event))
            .await
            .map_err(classify)?;
        Ok(())
    }
}

impl Processor for SetlistCleanup {
    fn name(&self) -> &'static str {
        "setlist_cleanup"
    }

    async fn handle(&self, event: &RecordedEvent) -> Result<(), ProcessorError> {
        let gone = match score_event(event)? {
            Some(ScoreEvent::ScoreDeleted { .. }) => Some(None),
            Some(ScoreEvent::BookmarkRemoved { bookmark_id }) => Some(Some(bookmark_id)),
            _ => None,
        };
        if let Some(bookmark) = gone {
            let score_id = event.aggregate_id.parse().map_err(|_| {
                ProcessorError::Permanent(format!("score id {:?}", event.aggregate_id))
            })?;
            for setlist_id in self.setlists_holding(event, bookmark).await? {
                self.remove(&setlist_id, score_id, bookmark, event).await?;
            }
            return Ok(());
        }
        if event.aggregate_type != Setlist::TYPE {
            return Ok(());
        }
        let decoded: SetlistEvent = projections::decode::decode(event).map_err(|error| {
            ProcessorError::Permanent(format!("undecodable setlist event: {error}"))
        })?;
        let SetlistEvent::SetlistItemAdded {
            score_id,
            bookmark_id,
            ..
        } = decoded
        else {
            return Ok(());
        };
        let score = self
            .scores
            .load(&score_id.to_string())
            .await
            .map_err(classify)?;
        if score.aggregate.status() == Some(ScoreStatus::Deleted) {
            self.remove(&event.aggregate_id, score_id, None, event)
                .await?;
        } else if let Some(bookmark_id) = bookmark_id
            && !score.aggregate.bookmarks().contains_key(&bookmark_id)
        {
            self.remove(&event.aggregate_id, score_id, Some(bookmark_id), event)
                .await?;
        }
        Ok(())
    }
}
