//! Object cleanup: the objects of deleted, cancelled, expired and rejected uploads are
//! removed from the store — the score's own objects, its page previews and the upload's
//! staging key. Deleting
//! what is already gone succeeds, so a replay is harmless. Bytes PUT to the staging key
//! after this ran (its URL lives until its TTL) are left to the upload sweep.

use std::sync::Arc;

use aggregates::{Score, ScoreEvent};
use eventstore::{AggregateStore, RecordedEvent};
use objectstore::{ObjectStore, page_previews_prefix, upload_staging_key};

use crate::commands::classify;
use crate::commands::score_event;
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
        let staging = score
            .aggregate
            .owner()
            .zip(score.aggregate.upload_id())
            .map(|(owner, upload)| upload_staging_key(owner.into_uuid(), upload.into_uuid()));
        let keys = score.aggregate.object_keys();
        for key in keys.into_iter().chain(staging.as_deref()) {
            self.objects.delete(key).await?;
        }
        // Page previews rendered on demand are not in the score's history: listed.
        if let (Some(owner), Some(upload)) = (score.aggregate.owner(), score.aggregate.upload_id())
        {
            let prefix = page_previews_prefix(owner.into_uuid(), upload.into_uuid());
            let mut continuation = None;
            loop {
                let page = self.objects.list_page(&prefix, continuation).await?;
                for key in &page.keys {
                    self.objects.delete(key).await?;
                }
                match page.next {
                    Some(next) => continuation = Some(next),
                    None => break,
                }
            }
        }
        Ok(())
    }
}
