//! Reading a recorded event as its aggregate's event type.

use chrono::{DateTime, Utc};
use eventstore::RecordedEvent;
use serde::de::DeserializeOwned;

use crate::error::ProjectionError;

/// The event's payload as `E` in its current shape (older versions upcast), or why it
/// does not decode (never skipped silently).
pub fn decode<E: DeserializeOwned>(event: &RecordedEvent) -> Result<E, ProjectionError> {
    let decoded = if aggregates::upcast::is_outdated(&event.event_type, &event.event_version) {
        let (_, payload) = aggregates::upcast::upcast(
            &event.event_type,
            &event.event_version,
            event.payload.clone(),
        );
        E::deserialize(payload)
    } else {
        // Current events (nearly all) decode in place, without a copy of the payload.
        E::deserialize(&event.payload)
    };
    decoded.map_err(|error| ProjectionError::Undecodable {
        position: event.position(),
        reason: error.to_string(),
    })
}

/// When the event happened (its metadata), falling back to when it was stored.
pub fn occurred_at(event: &RecordedEvent) -> DateTime<Utc> {
    event
        .metadata()
        .map_or(event.recorded_at, |metadata| metadata.occurred_at)
}

/// A stored working copy of an aggregate, as `T`.
pub fn stored_state<T: DeserializeOwned>(
    value: serde_json::Value,
    what: &str,
) -> Result<T, ProjectionError> {
    serde_json::from_value(value).map_err(|error| ProjectionError::Undecodable {
        position: 0,
        reason: format!("stored {what} state: {error}"),
    })
}

/// Counts in bytes are `u64` in the domain and `bigint` in SQL.
pub fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
