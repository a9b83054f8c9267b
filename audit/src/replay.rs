//! The fold: a user's Quota stream, in order, into ledger lines with running balances.
//!
//! The audit reads each event straight from its row's JSON text into the typed event and
//! the few metadata fields it reports ([`Fold::push_stored`]); only an event that does not
//! read that way (an older version to upcast, a string with escapes, a malformed payload)
//! goes through `serde_json::Value`, the general path, which then gives the answer or the
//! error the replay always gave.

use aggregates::QuotaEvent;
use aggregates::quota::ledger::{Balance, apply};
use chrono::{DateTime, Utc};
use eventstore::{EventMetadata, LogCursor, RecordedEvent};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::AuditError;
use crate::view::QuotaView;

/// One quota event as auditors read it: what happened, who caused it, and the balance
/// after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    let mut fold = Fold::default();
    events
        .iter()
        .map(|recorded| fold.push_recorded(recorded))
        .collect()
}

/// One stored event as its row holds it, the JSON still text (borrowed from the row).
/// Without `recorded_at`: only an event whose metadata does not read needs it.
#[derive(Debug, Clone, Copy)]
pub(super) struct StoredEvent<'r> {
    pub cursor: LogCursor,
    pub sequence: i64,
    pub event_type: &'r str,
    pub event_version: &'r str,
    pub payload: &'r str,
    pub metadata: &'r str,
}

/// Where a line read from text took its `occurred_at` from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dating {
    /// The metadata's `occurred_at`.
    Metadata,
    /// None yet: the metadata does not read, so it is the event's `recorded_at`, which
    /// the caller reads and sets.
    Recorded,
}

/// The replay so far: the balance after the last event pushed.
#[derive(Debug, Default)]
pub(super) struct Fold {
    balance: Balance,
}

impl Fold {
    /// The next event of the stream, from its row's text.
    pub(super) fn push_stored(
        &mut self,
        stored: &StoredEvent<'_>,
    ) -> Result<(Replayed, Dating), AuditError> {
        let position = stored.cursor.position;
        let event = event_from_text(
            position,
            stored.event_type,
            stored.event_version,
            stored.payload,
        )?;
        let (cause, dating) = match cause_from_text(position, stored.metadata)? {
            Some(cause) => (cause, Dating::Metadata),
            None => (Cause::of(None, DateTime::<Utc>::MIN_UTC), Dating::Recorded),
        };
        let replayed = self.push(
            stored.cursor,
            stored.sequence,
            stored.event_type,
            stored.event_version,
            &event,
            cause,
        );
        Ok((replayed, dating))
    }

    /// The next event of the stream, already parsed into JSON values.
    fn push_recorded(&mut self, recorded: &RecordedEvent) -> Result<Replayed, AuditError> {
        let event = event_from_text(
            recorded.position(),
            &recorded.event_type,
            &recorded.event_version,
            recorded.payload.get(),
        )?;
        let cause = Cause::of(recorded.metadata(), recorded.recorded_at);
        Ok(self.push(
            recorded.cursor,
            recorded.sequence,
            &recorded.event_type,
            &recorded.event_version,
            &event,
            cause,
        ))
    }

    fn push(
        &mut self,
        cursor: LogCursor,
        sequence: i64,
        event_type: &str,
        event_version: &str,
        event: &QuotaEvent,
        cause: Cause,
    ) -> Replayed {
        let line = apply(&mut self.balance, event);
        Replayed {
            cursor,
            balance: line.after,
            entry: AuditEntry {
                position: cursor.position,
                version: sequence,
                occurred_at: cause.occurred_at,
                event: event_type.to_owned(),
                event_version: event_version.to_owned(),
                actor: cause.actor,
                request_id: cause.request_id,
                causation_id: cause.causation_id,
                upload_id: line.upload_id.map(aggregates::UploadId::into_uuid),
                score_id: line.score_id.map(aggregates::UploadId::into_uuid),
                delta_used_bytes: line.delta_used,
                delta_reserved_bytes: line.delta_reserved,
                used_bytes_after: line.after.used,
                reserved_bytes_after: line.after.reserved,
                limit_bytes_after: line.after.limit,
                available_bytes_after: line.after.available(),
            },
        }
    }
}

/// What an entry reports of its event's metadata.
struct Cause {
    occurred_at: DateTime<Utc>,
    actor: Option<String>,
    request_id: Option<String>,
    causation_id: Option<String>,
}

impl Cause {
    /// From the metadata, or only `recorded_at` when it does not read as metadata.
    fn of(metadata: Option<EventMetadata>, recorded_at: DateTime<Utc>) -> Self {
        match metadata {
            Some(metadata) => Self {
                occurred_at: metadata.occurred_at,
                actor: Some(String::from(metadata.actor)),
                request_id: metadata.request_id,
                causation_id: metadata.causation_id,
            },
            None => Self {
                occurred_at: recorded_at,
                actor: None,
                request_id: None,
                causation_id: None,
            },
        }
    }
}

/// `EventMetadata` as it reads straight from JSON text, strings borrowed. Whatever this
/// accepts, `EventMetadata` reads alike (same fields, types and parsers); whatever it
/// refuses (strings with escapes, duplicate keys, anything malformed) is left to the
/// general path.
#[derive(Deserialize)]
struct MetadataText<'a> {
    #[serde(deserialize_with = "rfc3339")]
    occurred_at: DateTime<Utc>,
    actor: &'a str,
    #[serde(default)]
    request_id: Option<&'a str>,
    #[serde(default)]
    causation_id: Option<&'a str>,
    /// Not reported, but metadata where it is not a string is no metadata.
    #[serde(default, rename = "correlation_id")]
    _correlation_id: Option<&'a str>,
}

/// The cause, or `None` when the text is JSON but not metadata.
/// `DateTime<Utc>`'s own reading of a string (chrono's relaxed RFC 3339), the strict form
/// the metadata is written in tried first: same instant, a fifth of the time.
fn rfc3339<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    let text = <&str>::deserialize(deserializer)?;
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .or_else(|_| text.parse::<DateTime<Utc>>())
        .map_err(serde::de::Error::custom)
}

fn cause_from_text(position: i64, text: &str) -> Result<Option<Cause>, AuditError> {
    if let Ok(metadata) = serde_json::from_str::<MetadataText<'_>>(text) {
        // `Actor` from a string: a user id when it parses as one, else the system.
        let actor = Uuid::parse_str(metadata.actor)
            .map_or_else(|_| "system".to_owned(), |user| user.to_string());
        return Ok(Some(Cause {
            occurred_at: metadata.occurred_at,
            actor: Some(actor),
            request_id: metadata.request_id.map(str::to_owned),
            causation_id: metadata.causation_id.map(str::to_owned),
        }));
    }
    let value = json_value(position, "metadata", text)?;
    Ok(EventMetadata::from_json(&value)
        .map(|metadata| Cause::of(Some(metadata), DateTime::<Utc>::MIN_UTC)))
}

fn event_from_text(
    position: i64,
    event_type: &str,
    event_version: &str,
    text: &str,
) -> Result<QuotaEvent, AuditError> {
    if !aggregates::upcast::is_outdated(event_type, event_version)
        && let Ok(event) = serde_json::from_str::<QuotaEvent>(text)
    {
        return Ok(event);
    }
    let value = json_value(position, "payload", text)?;
    event_from_value(position, event_type, event_version, &value)
}

/// The general path (`projections::decode`'s): upcast when outdated, then read.
fn event_from_value(
    position: i64,
    event_type: &str,
    event_version: &str,
    payload: &Value,
) -> Result<QuotaEvent, AuditError> {
    let decoded = if aggregates::upcast::is_outdated(event_type, event_version) {
        let (_, payload) = aggregates::upcast::upcast(event_type, event_version, payload.clone());
        QuotaEvent::deserialize(payload)
    } else {
        QuotaEvent::deserialize(payload)
    };
    decoded.map_err(|error| undecodable(position, error.to_string()))
}

fn json_value(position: i64, column: &str, text: &str) -> Result<Value, AuditError> {
    serde_json::from_str(text)
        .map_err(|error| undecodable(position, format!("the {column} is not JSON: {error}")))
}

/// The error the replay has always given (the projections' wording inside).
fn undecodable(position: i64, reason: String) -> AuditError {
    AuditError::Undecodable {
        position,
        reason: projections::ProjectionError::Undecodable { position, reason }.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use aggregates::{Bytes, ReleaseReason, UploadId};
    use chrono::TimeZone;
    use cqrs_es::DomainEvent;
    use eventstore::Actor;
    use serde_json::json;

    use super::*;

    // Values, so the cases read as `json!` literals.
    #[allow(clippy::needless_pass_by_value)]
    fn recorded(
        sequence: i64,
        event_type: &str,
        event_version: &str,
        payload: Value,
        metadata: Value,
    ) -> RecordedEvent {
        RecordedEvent {
            cursor: LogCursor {
                transaction_id: 7,
                position: 100 + sequence,
            },
            aggregate_type: "Quota".to_owned(),
            aggregate_id: "user".to_owned(),
            sequence,
            event_type: event_type.to_owned(),
            event_version: event_version.to_owned(),
            payload: serde_json::value::to_raw_value(&payload).unwrap(),
            metadata: serde_json::value::to_raw_value(&metadata).unwrap(),
            recorded_at: Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).unwrap(),
        }
    }

    /// Both paths over the same events, the text one from the JSON as a row holds it.
    fn both_ways(events: &[RecordedEvent]) -> (Vec<Replayed>, Vec<Replayed>) {
        let by_value = replay(events).unwrap();
        let mut fold = Fold::default();
        let by_text = events
            .iter()
            .map(|event| {
                let (payload, metadata) = (event.payload.get(), event.metadata.get());
                let (mut replayed, dating) = fold
                    .push_stored(&StoredEvent {
                        cursor: event.cursor,
                        sequence: event.sequence,
                        event_type: &event.event_type,
                        event_version: &event.event_version,
                        payload,
                        metadata,
                    })
                    .unwrap();
                if dating == Dating::Recorded {
                    replayed.entry.occurred_at = event.recorded_at;
                }
                replayed
            })
            .collect();
        (by_value, by_text)
    }

    fn entries(replayed: &[Replayed]) -> Vec<(AuditEntry, Balance)> {
        replayed
            .iter()
            .map(|replayed| (replayed.entry.clone(), replayed.balance))
            .collect()
    }

    #[test]
    fn the_text_path_reads_every_event_and_metadata_as_the_value_path_does() {
        let upload = UploadId::from_uuid(Uuid::from_u128(9));
        let user = Uuid::from_u128(0xabc);
        let at = Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap();
        let metadata = |actor: Actor| {
            serde_json::to_value(
                EventMetadata::new(actor, at)
                    .with_request_id("req-1")
                    .caused_by("Score/x/3", "req-0")
                    .to_map(),
            )
            .unwrap()
        };
        let event = |event: &QuotaEvent| serde_json::to_value(event).unwrap();
        let reserved = QuotaEvent::QuotaReserved {
            upload_id: upload,
            bytes: Bytes(300),
            expires_at: at,
        };
        let released = QuotaEvent::ReservationReleased {
            upload_id: upload,
            bytes: Bytes(300),
            reason: ReleaseReason::Expired,
        };
        let events = [
            // Version 1.0 of QuotaLimitSet, upcast.
            recorded(
                1,
                "QuotaLimitSet",
                "1.0",
                json!({"QuotaLimitSet": {"limit": 5000}}),
                metadata(Actor::System),
            ),
            recorded(
                2,
                &reserved.event_type(),
                &reserved.event_version(),
                event(&reserved),
                metadata(Actor::User(user)),
            ),
            // Metadata that is not metadata: the time it was stored, no actor.
            recorded(
                3,
                &released.event_type(),
                &released.event_version(),
                event(&released),
                json!({"occurred_at": "yesterday", "actor": "system"}),
            ),
            // Escapes, a braced user id, an unknown field, a null.
            recorded(
                4,
                "QuotaLimitSet",
                "2.0",
                json!({"QuotaLimitSet": {"limit_bytes": 7000}}),
                json!({"occurred_at": "2026-11-30T12:00:00.5+01:00", "actor": format!("{{{user}}}"),
                       "request_id": "a\"b\u{e9}", "causation_id": null, "other": [1]}),
            ),
            recorded(
                5,
                "QuotaLimitSet",
                "2.0",
                json!({"QuotaLimitSet": {"limit_bytes": 8000}}),
                json!({"occurred_at": "2026-11-30T12:00:00Z", "actor": "someone", "correlation_id": 3}),
            ),
            // A time only the relaxed reading takes (a space for the `T`).
            recorded(
                6,
                "QuotaLimitSet",
                "2.0",
                json!({"QuotaLimitSet": {"limit_bytes": 9000}}),
                json!({"occurred_at": "2026-11-30 13:00:00.25Z", "actor": "system"}),
            ),
        ];
        let (by_value, by_text) = both_ways(&events);
        assert_eq!(entries(&by_text), entries(&by_value));
        assert_eq!(by_text[0].entry.limit_bytes_after, 5000);
        assert_eq!(by_text[1].entry.actor.as_deref(), Some(&*user.to_string()));
        assert_eq!(by_text[2].entry.occurred_at, events[2].recorded_at);
        assert_eq!(by_text[2].entry.actor, None);
        assert_eq!(by_text[3].entry.request_id.as_deref(), Some("a\"b\u{e9}"));
        assert_eq!(by_text[4].entry.actor, None);
        assert_eq!(
            by_text[5].entry.occurred_at,
            Utc.with_ymd_and_hms(2026, 11, 30, 13, 0, 0).unwrap()
                + chrono::Duration::milliseconds(250)
        );
    }

    #[test]
    fn an_undecodable_event_is_named_alike_on_both_paths() {
        let events = [recorded(
            1,
            "QuotaLimitSet",
            "2.0",
            json!({"QuotaLimitSet": {"limit_bytes": -1}}),
            json!({}),
        )];
        let by_value = replay(&events).unwrap_err().to_string();
        let payload = events[0].payload.get();
        let by_text = Fold::default()
            .push_stored(&StoredEvent {
                cursor: events[0].cursor,
                sequence: 1,
                event_type: "QuotaLimitSet",
                event_version: "2.0",
                payload,
                metadata: "{}",
            })
            .unwrap_err()
            .to_string();
        assert_eq!(by_text, by_value);
        assert!(by_text.contains("position 101"), "{by_text}");
        let not_json = Fold::default()
            .push_stored(&StoredEvent {
                cursor: events[0].cursor,
                sequence: 1,
                event_type: "QuotaLimitSet",
                event_version: "2.0",
                payload: "{\"QuotaLimitSet\":",
                metadata: "{}",
            })
            .unwrap_err();
        assert!(matches!(
            not_json,
            AuditError::Undecodable { position: 101, .. }
        ));
    }
}
