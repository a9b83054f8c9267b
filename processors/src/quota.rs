//! The quota saga: the Score's lifecycle moves bytes in the owner's Quota ledger.
//! Confirmation is also done in the request path (so `GET /quota` reflects it at once);
//! this processor makes it happen after a crash in between, and the Quota's idempotent
//! commands make the second attempt a no-op.

use std::sync::Arc;

use aggregates::{Quota, QuotaCommand, ReleaseReason, Score, ScoreEvent, UploadId};
use eventstore::{AggregateStore, RecordedEvent};

use crate::commands::score_event;
use crate::commands::{caused_by, classify};
use crate::runner::{Processor, ProcessorError};

pub struct QuotaSaga {
    pub scores: Arc<AggregateStore<Score>>,
    pub quotas: Arc<AggregateStore<Quota>>,
}

impl Processor for QuotaSaga {
    fn name(&self) -> &'static str {
        "quota"
    }

    async fn handle(&self, event: &RecordedEvent) -> Result<(), ProcessorError> {
        let Some(decoded) = score_event(event)? else {
            return Ok(());
        };
        let upload_id: UploadId = event.aggregate_id.parse().map_err(|_| {
            ProcessorError::Permanent(format!("bad score id {}", event.aggregate_id))
        })?;
        let command = match decoded {
            ScoreEvent::UploadConfirmed { size_bytes, .. } => QuotaCommand::ConfirmQuota {
                upload_id,
                score_id: upload_id,
                actual_bytes: size_bytes,
            },
            ScoreEvent::ScoreDeleted { .. } => QuotaCommand::ReleaseQuota {
                score_id: upload_id,
            },
            ScoreEvent::UploadCancelled {} => release(upload_id, ReleaseReason::Cancelled),
            ScoreEvent::UploadExpired {} => release(upload_id, ReleaseReason::Expired),
            ScoreEvent::UploadRejected { .. } => release(upload_id, ReleaseReason::Rejected),
            _ => return Ok(()),
        };
        let score = self
            .scores
            .load(&event.aggregate_id)
            .await
            .map_err(classify)?;
        let Some(owner) = score.aggregate.owner() else {
            return Err(ProcessorError::Permanent(format!(
                "score {upload_id} has no owner"
            )));
        };
        self.quotas
            .execute(&owner.to_string(), command, &caused_by(event))
            .await
            .map_err(classify)?;
        Ok(())
    }
}

fn release(upload_id: UploadId, reason: ReleaseReason) -> QuotaCommand {
    QuotaCommand::ReleaseReservation { upload_id, reason }
}
