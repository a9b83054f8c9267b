//! Turning the outcome of a command issued by a processor into a processor outcome.

use aggregates::{Score, ScoreEvent};
use eventstore::{Actor, CommandError, EventMetadata, RecordedEvent};

use crate::runner::ProcessorError;

/// Metadata of a command issued in reaction to `event`: actor `system`, caused by that
/// event, in the correlation of the request that started the chain.
pub fn caused_by(event: &RecordedEvent) -> EventMetadata {
    let origin = event.metadata();
    let correlation = origin
        .as_ref()
        .and_then(|metadata| {
            metadata
                .correlation_id
                .clone()
                .or_else(|| metadata.request_id.clone())
        })
        .unwrap_or_else(|| event.position().to_string());
    let mut metadata = EventMetadata::new(Actor::System, chrono::Utc::now()).caused_by(
        format!(
            "{}/{}/{}",
            event.aggregate_type, event.aggregate_id, event.sequence
        ),
        correlation,
    );
    metadata.request_id = origin.and_then(|metadata| metadata.request_id);
    metadata
}

/// Storage trouble is transient; a refusal is permanent (the rules said no, and will say
/// no again).
pub fn classify<E: std::error::Error>(error: CommandError<E>) -> ProcessorError {
    match error {
        CommandError::Rejected(rejection) => ProcessorError::Permanent(rejection.to_string()),
        CommandError::Conflict { attempts } => {
            ProcessorError::Transient(format!("conflict after {attempts} attempts"))
        }
        CommandError::VersionMismatch { .. } => ProcessorError::Permanent(error.to_string()),
        CommandError::Store(store) => ProcessorError::Transient(store.to_string()),
    }
}

/// The Score event of `event`, or `None` for other aggregates' events.
pub fn score_event(event: &RecordedEvent) -> Result<Option<ScoreEvent>, ProcessorError> {
    if event.aggregate_type != <Score as cqrs_es::Aggregate>::TYPE {
        return Ok(None);
    }
    // Through the projections' decoder, so older event versions are upcast here as there.
    projections::decode::decode(event)
        .map(Some)
        .map_err(|error| ProcessorError::Permanent(format!("undecodable score event: {error}")))
}
