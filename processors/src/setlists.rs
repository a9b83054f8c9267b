//! Setlist cleanup: a deleted score leaves every setlist, as `SetlistItemRemoved` events in
//! each setlist's own history (reason `score_deleted`). Reads hide such items at once; this
//! processor makes the histories say why.
//!
//! Two events lead here. `ScoreDeleted`: the setlists holding the score are found in the
//! `setlists` read model, once that has applied everything up to the deletion. An item
//! added in the instant the score was being deleted lands after the deletion in the log:
//! `SetlistItemAdded` of a score already deleted removes it again.

use std::sync::Arc;

use aggregates::{Score, ScoreEvent, ScoreStatus, Setlist, SetlistCommand, SetlistEvent};
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
    /// The setlists holding `score_id`, per the read model once it has reached `event`.
    async fn setlists_holding(&self, event: &RecordedEvent) -> Result<Vec<String>, ProcessorError> {
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
        const QUERY: &str = "SELECT DISTINCT setlist_id FROM setlist_items WHERE score_id = $1";
        let ids: Vec<String> = match &mut tx {
            ReadModelTx::Sqlite(transaction, _) => {
                sqlx::query_scalar(QUERY)
                    .bind(&event.aggregate_id)
                    .fetch_all(&mut **transaction)
                    .await
            }
            ReadModelTx::Postgres(transaction) => {
                sqlx::query_scalar(QUERY)
                    .bind(&event.aggregate_id)
                    .fetch_all(&mut **transaction)
                    .await
            }
        }
        .map_err(transient)?;
        tx.rollback().await.map_err(transient)?;
        Ok(ids)
    }

    async fn remove_score(
        &self,
        setlist_id: &str,
        score_id: aggregates::ScoreId,
        event: &RecordedEvent,
    ) -> Result<(), ProcessorError> {
        self.setlists
            .execute(
                setlist_id,
                SetlistCommand::RemoveScoreFromSetlist { score_id },
                &caused_by(event),
            )
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
        if let Some(ScoreEvent::ScoreDeleted { .. }) = score_event(event)? {
            let score_id = event.aggregate_id.parse().map_err(|_| {
                ProcessorError::Permanent(format!("score id {:?}", event.aggregate_id))
            })?;
            for setlist_id in self.setlists_holding(event).await? {
                self.remove_score(&setlist_id, score_id, event).await?;
            }
            return Ok(());
        }
        if event.aggregate_type != Setlist::TYPE {
            return Ok(());
        }
        let decoded: SetlistEvent = projections::decode::decode(event).map_err(|error| {
            ProcessorError::Permanent(format!("undecodable setlist event: {error}"))
        })?;
        let SetlistEvent::SetlistItemAdded { score_id, .. } = decoded else {
            return Ok(());
        };
        let score = self
            .scores
            .load(&score_id.to_string())
            .await
            .map_err(classify)?;
        if score.aggregate.status() == Some(ScoreStatus::Deleted) {
            self.remove_score(&event.aggregate_id, score_id, event)
                .await?;
        }
        Ok(())
    }
}
