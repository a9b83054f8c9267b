//! The fold: a user's Quota stream, in order, into ledger lines with running balances.

use aggregates::QuotaEvent;
use aggregates::quota::ledger::{Balance, apply};
use chrono::{DateTime, Utc};
use eventstore::{LogCursor, RecordedEvent};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::AuditError;
use crate::routes::me::QuotaView;

/// One quota event as auditors read it: what happened, who caused it, and the balance
/// after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    /// The event's place in the global log.
    pub position: i64,
    /// The ledger's version after the event (1, 2, …).
    pub version: i64,
    /// When the command that caused it was decided.
    pub occurred_at: DateTime<Utc>,
    /// The event type, e.g. `QuotaReserved`.
    pub event: String,
    /// The version the event was stored with (older versions are upcast to be read).
    pub event_version: String,
    /// A user id, or `system` for processors, timers and operators' commands.
    pub actor: Option<String>,
    pub request_id: Option<String>,
    /// The event a processor reacted to when it caused this one.
    pub causation_id: Option<String>,
    pub upload_id: Option<Uuid>,
    pub score_id: Option<Uuid>,
    pub delta_used_bytes: i64,
    pub delta_reserved_bytes: i64,
    pub used_bytes_after: u64,
    pub reserved_bytes_after: u64,
    pub limit_bytes_after: u64,
    /// Never negative: 0 when a lowered limit is below usage.
    pub available_bytes_after: u64,
}

impl AuditEntry {
    /// The balance after this event.
    pub fn state(&self) -> QuotaView {
        QuotaView {
            limit_bytes: self.limit_bytes_after,
            used_bytes: self.used_bytes_after,
            reserved_bytes: self.reserved_bytes_after,
            available_bytes: self.available_bytes_after,
        }
    }
}

/// A replayed event with what verification needs besides the answer.
#[derive(Debug, Clone)]
pub struct Replayed {
    pub cursor: LogCursor,
    pub balance: Balance,
    pub entry: AuditEntry,
}

/// Folds a Quota stream (in stream order) into its ledger.
pub fn replay(events: &[RecordedEvent]) -> Result<Vec<Replayed>, AuditError> {
    let mut balance = Balance::default();
    events
        .iter()
        .map(|recorded| {
            let event: QuotaEvent =
                projections::decode::decode(recorded).map_err(|error| AuditError::Undecodable {
                    position: recorded.position(),
                    reason: error.to_string(),
                })?;
            let line = apply(&mut balance, &event);
            let metadata = recorded.metadata();
            let occurred_at = metadata
                .as_ref()
                .map_or(recorded.recorded_at, |metadata| metadata.occurred_at);
            Ok(Replayed {
                cursor: recorded.cursor,
                balance: line.after,
                entry: AuditEntry {
                    position: recorded.position(),
                    version: recorded.sequence,
                    occurred_at,
                    event: recorded.event_type.clone(),
                    event_version: recorded.event_version.clone(),
                    actor: metadata
                        .as_ref()
                        .map(|metadata| String::from(metadata.actor.clone())),
                    request_id: metadata
                        .as_ref()
                        .and_then(|metadata| metadata.request_id.clone()),
                    causation_id: metadata.and_then(|metadata| metadata.causation_id),
                    upload_id: line.upload_id.map(aggregates::UploadId::into_uuid),
                    score_id: line.score_id.map(aggregates::UploadId::into_uuid),
                    delta_used_bytes: line.delta_used,
                    delta_reserved_bytes: line.delta_reserved,
                    used_bytes_after: line.after.used,
                    reserved_bytes_after: line.after.reserved,
                    limit_bytes_after: line.after.limit,
                    available_bytes_after: line.after.available(),
                },
            })
        })
        .collect()
}
