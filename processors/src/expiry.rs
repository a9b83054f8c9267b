//! The reservation-expiry timer: uploads still unconfirmed after their TTL expire, and
//! their reservations are released — also reservations whose upload was never requested
//! (the request path reserves first, then requests the upload).

use std::sync::Arc;

use aggregates::{Quota, QuotaCommand, ReleaseReason, Score, ScoreCommand, ScoreEvent, UploadId};
use chrono::{DateTime, Utc};
use eventstore::{Actor, AggregateStore, Database, EventMetadata};
use projections::{ProjectionError, expired_reservations};

use crate::commands::classify;

pub struct ReservationExpiry {
    pub database: Database,
    pub scores: Arc<AggregateStore<Score>>,
    pub quotas: Arc<AggregateStore<Quota>>,
}

impl ReservationExpiry {
    /// Expires what is due at `now`; answers how many reservations it expired. Reads the
    /// `open_reservations` projection, so run it after the projections have caught up.
    pub async fn run_once(&self, now: DateTime<Utc>) -> Result<usize, ProjectionError> {
        let due = expired_reservations(&self.database, now, 100).await?;
        let mut expired = 0;
        for reservation in &due {
            let Ok(upload_id) = reservation.upload_id.parse::<UploadId>() else {
                tracing::error!(upload_id = %reservation.upload_id, "unparseable upload id in open_reservations");
                continue;
            };
            let metadata = EventMetadata::new(Actor::System, now)
                .with_request_id(format!("expiry-{}", uuid::Uuid::now_v7()));
            let expire = ScoreCommand::ExpireUpload { now };
            let committed = match self
                .scores
                .execute(&reservation.upload_id, expire, &metadata)
                .await
            {
                Ok(committed) => committed,
                Err(error) => {
                    tracing::warn!(%upload_id, error = %classify(error), "expiring the upload failed");
                    continue;
                }
            };
            let recorded_expiry = committed
                .events
                .iter()
                .any(|event| matches!(event.payload, ScoreEvent::UploadExpired {}));
            // Release only what this expiry ended, or a reservation whose upload was never
            // requested. An upload confirmed, cancelled or rejected meanwhile keeps its bytes
            // moving through its own path (a confirmation racing the timer must not lose them).
            let never_requested = !recorded_expiry && committed.version == 0;
            if !(recorded_expiry || never_requested) {
                continue;
            }
            let release = QuotaCommand::ReleaseReservation {
                upload_id,
                reason: ReleaseReason::Expired,
            };
            match self
                .quotas
                .execute(&reservation.user_id, release, &metadata)
                .await
            {
                Ok(committed) if !committed.events.is_empty() => expired += 1,
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%upload_id, error = %classify(error), "releasing the reservation failed")
                }
            }
        }
        Ok(expired)
    }
}
