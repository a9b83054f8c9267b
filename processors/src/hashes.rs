//! File hashes of scores confirmed before confirmations hashed their bytes: each such
//! confirmation (`UploadConfirmed` without `sha256`) gets the SHA-256 of the stored object,
//! read once and streamed. Its checkpoint starts at the beginning of the log, so its first
//! run works through the whole history (the backfill); afterwards it finds nothing to do,
//! as every confirmation now carries the hash. Recording a hash the score already has
//! changes nothing, so a replay is harmless.

use std::sync::Arc;

use aggregates::{Score, ScoreCommand, ScoreEvent, ScoreStatus};
use eventstore::{AggregateStore, RecordedEvent};
use objectstore::ObjectStore;

use crate::commands::{caused_by, classify, score_event};
use crate::runner::{Processor, ProcessorError};

pub struct FileHashes {
    pub scores: Arc<AggregateStore<Score>>,
    pub objects: ObjectStore,
    /// The largest object it reads (the largest upload accepted).
    pub max_bytes: u64,
}

impl Processor for FileHashes {
    fn name(&self) -> &'static str {
        "file_hash"
    }

    async fn handle(&self, event: &RecordedEvent) -> Result<(), ProcessorError> {
        let Some(ScoreEvent::UploadConfirmed { sha256: None, .. }) = score_event(event)? else {
            return Ok(());
        };
        let score = self
            .scores
            .load(&event.aggregate_id)
            .await
            .map_err(classify)?;
        // Deleted since: its bytes are gone or going, and nobody asks for its hash.
        let (Some(ScoreStatus::Confirmed), Some(file)) =
            (score.aggregate.status(), score.aggregate.file())
        else {
            return Ok(());
        };
        let Some(read) = self
            .objects
            .read_hashed(&file.object_key, 0, self.max_bytes)
            .await?
        else {
            return Err(ProcessorError::Permanent(format!(
                "the object {} of a confirmed score is missing",
                file.object_key
            )));
        };
        let record = ScoreCommand::RecordFileHash {
            sha256: read.sha256,
        };
        self.scores
            .execute(&event.aggregate_id, record, &caused_by(event))
            .await
            .map_err(classify)?;
        Ok(())
    }
}
