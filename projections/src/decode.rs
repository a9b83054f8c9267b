//! Reading a recorded event as its aggregate's event type.

use chrono::{DateTime, Utc};
use eventstore::RecordedEvent;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::batch::JsonText;
use crate::error::ProjectionError;

/// The event's payload as `E` in its current shape (older versions upcast), or why it
/// does not decode (never skipped silently).
pub fn decode<E: DeserializeOwned>(event: &RecordedEvent) -> Result<E, ProjectionError> {
    let undecodable = |reason: String| ProjectionError::Undecodable {
        position: event.position(),
        reason,
    };
    let text = event.payload.get();
    if !aggregates::upcast::is_outdated(&event.event_type, &event.event_version) {
        // Current events (nearly all) decode straight from the stored text.
        return serde_json::from_str(text).map_err(|error| undecodable(error.to_string()));
    }
    let payload = serde_json::from_str(text).map_err(|error| undecodable(error.to_string()))?;
    let (_, payload) = aggregates::upcast::upcast(&event.event_type, &event.event_version, payload);
    E::deserialize(payload).map_err(|error| undecodable(error.to_string()))
}

/// When the event happened (its metadata), falling back to when it was stored.
pub fn occurred_at(event: &RecordedEvent) -> DateTime<Utc> {
    event
        .metadata()
        .map_or(event.recorded_at, |metadata| metadata.occurred_at)
}

/// An aggregate's state as the read model stores it (its `state` column), written out
/// once: read back with `sqlx::types::Json`, it never passes through a `Value`.
pub fn state_json<T: Serialize>(
    state: &T,
    event: &RecordedEvent,
    what: &str,
) -> Result<JsonText, ProjectionError> {
    serde_json::value::to_raw_value(state)
        .map(JsonText)
        .map_err(|error| ProjectionError::Undecodable {
            position: event.position(),
            reason: format!("{what} state: {error}"),
        })
}

/// Counts in bytes are `u64` in the domain and `bigint` in SQL.
pub fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
