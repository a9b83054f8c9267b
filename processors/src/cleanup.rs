//! Object cleanup: the objects of deleted, cancelled, expired and rejected uploads are
//! removed from the store. Deleting what is already gone succeeds, so a replay is harmless.

use std::sync::Arc;

use aggregates::{Score, ScoreEvent};
use eventstore::{AggregateStore, RecordedEvent};

use crate::commands::classify;
use crate::commands::score_event;
use crate::objects::ObjectStore;
use crate::runner::{Processor, ProcessorError};

pub struct ObjectCleanup {
    pub scores: Arc<AggregateStore<Score>>,
    pub objects: ObjectStore,
}

impl Processor for ObjectCleanup {
    fn name(&self) -> &'static str {
        "object_cleanup"
    }

    async fn handle(&self, event: &RecordedEvent) -> Result<(), ProcessorError> {
        let Some(decoded) = score_event(event)? else {
            return Ok(());
        };
        let ends_the_upload = matches!(
            decoded,
            ScoreEvent::ScoreDeleted { .. }
                | ScoreEvent::UploadCancelled {}
                | ScoreEvent::UploadExpired {}
                | ScoreEvent::UploadRejected { .. }
        );
        if !ends_the_upload {
            return Ok(());
        }
        let score = self
            .scores
            .load(&event.aggregate_id)
            .await
            .map_err(classify)?;
        for key in score.aggregate.object_keys() {
            self.objects.delete(key).await.map_err(|error| {
                if error.is_transient() {
                    ProcessorError::Transient(error.to_string())
                } else {
                    ProcessorError::Permanent(error.to_string())
                }
            })?;
        }
        Ok(())
    }
}
