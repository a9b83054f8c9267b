//! Reading events stored by older versions as the current ones.
//!
//! An event's stored `event_version` names the shape of its payload. When a shape
//! changes, the event's version goes up and an upcaster here rewrites the older payloads
//! on load, so aggregates, projections and the auditors' replay only ever decode the
//! current shape and stored streams are never rewritten.
//!
//! | event | version | change |
//! | --- | --- | --- |
//! | `QuotaLimitSet` | 2.0 | `limit` renamed `limit_bytes`, the unit every other byte count names |
//!
//! Additions need no upcaster: `SetlistCreated`, `SetlistDetailsUpdated`,
//! `SetlistItemAdded` and `SetlistItemRemoved` 1.1 only added optional fields (`notes`,
//! an item's `bookmark_id` and `pages`) and the reason `bookmark_removed`, so every 1.0
//! payload decodes as the same 1.1 event.

use cqrs_es::persist::{EventUpcaster, SerializedEvent};
use serde_json::Value;

/// Rewrites one event type's payloads older than `to_version` into that version's shape.
struct Upcaster {
    event_type: &'static str,
    to_version: &'static str,
    rewrite: fn(Value) -> Value,
}

impl EventUpcaster for Upcaster {
    fn can_upcast(&self, event_type: &str, event_version: &str) -> bool {
        event_type == self.event_type
            && matches!(
                (version(event_version), version(self.to_version)),
                (Some(stored), Some(target)) if stored < target
            )
    }

    fn upcast(&self, mut event: SerializedEvent) -> SerializedEvent {
        event.payload = (self.rewrite)(event.payload);
        self.to_version.clone_into(&mut event.event_version);
        event
    }
}

/// `major.minor` of a stored version; `None` for anything else, which no upcaster takes
/// (decoding then reports the event instead of guessing).
fn version(text: &str) -> Option<(u32, u32)> {
    let (major, minor) = text.split_once('.').unwrap_or((text, "0"));
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Renames a field inside the externally tagged payload `{"Variant": {...}}`. A payload of
/// another shape is left as it is, so decoding names the problem.
fn rename_field(mut payload: Value, variant: &str, from: &str, to: &str) -> Value {
    if let Some(fields) = payload
        .get_mut(variant)
        .and_then(Value::as_object_mut)
        .filter(|fields| !fields.contains_key(to))
        && let Some(value) = fields.remove(from)
    {
        fields.insert(to.to_owned(), value);
    }
    payload
}

fn quota_limit_set_2_0(payload: Value) -> Value {
    rename_field(payload, "QuotaLimitSet", "limit", "limit_bytes")
}

/// Every upcaster, oldest change first (the order they must run in).
const UPCASTERS: [Upcaster; 1] = [Upcaster {
    event_type: "QuotaLimitSet",
    to_version: "2.0",
    rewrite: quota_limit_set_2_0,
}];

/// The upcasters for cqrs-es' event stores.
pub fn upcasters() -> Vec<Box<dyn EventUpcaster>> {
    UPCASTERS
        .iter()
        .map(|upcaster| {
            Box::new(Upcaster {
                event_type: upcaster.event_type,
                to_version: upcaster.to_version,
                rewrite: upcaster.rewrite,
            }) as Box<dyn EventUpcaster>
        })
        .collect()
}

/// Whether a stored event needs upcasting before it is read (most do not).
pub fn is_outdated(event_type: &str, event_version: &str) -> bool {
    UPCASTERS
        .iter()
        .any(|upcaster| upcaster.can_upcast(event_type, event_version))
}

/// A stored event's payload in the current shape of its type, with that shape's version.
pub fn upcast(event_type: &str, event_version: &str, payload: Value) -> (String, Value) {
    let mut version = event_version.to_owned();
    let mut payload = payload;
    for upcaster in &UPCASTERS {
        if upcaster.can_upcast(event_type, &version) {
            let event = upcaster.upcast(SerializedEvent::new(
                String::new(),
                0,
                String::new(),
                event_type.to_owned(),
                version,
                payload,
                Value::Null,
            ));
            version = event.event_version;
            payload = event.payload;
        }
    }
    (version, payload)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;
    use crate::{Bytes, QuotaEvent};

    #[test]
    fn a_version_1_quota_limit_set_reads_as_the_current_event() {
        let (version, payload) = upcast(
            "QuotaLimitSet",
            "1.0",
            json!({"QuotaLimitSet": {"limit": 5000}}),
        );
        assert_eq!(version, "2.0");
        let event: QuotaEvent = serde_json::from_value(payload).unwrap();
        assert_eq!(event, QuotaEvent::QuotaLimitSet { limit: Bytes(5000) });
    }

    #[test]
    fn current_and_unknown_versions_are_left_alone() {
        let current = json!({"QuotaLimitSet": {"limit_bytes": 7}});
        assert_eq!(
            upcast("QuotaLimitSet", "2.0", current.clone()),
            ("2.0".to_owned(), current)
        );
        let odd = json!({"QuotaLimitSet": {"limit": 7}});
        assert_eq!(
            upcast("QuotaLimitSet", "one", odd.clone()),
            ("one".to_owned(), odd)
        );
        let other = json!({"QuotaReserved": {"bytes": 1}});
        assert_eq!(
            upcast("QuotaReserved", "1.0", other.clone()),
            ("1.0".to_owned(), other)
        );
    }

    #[test]
    fn a_malformed_old_payload_is_passed_on_for_decoding_to_reject() {
        let (_, payload) = upcast("QuotaLimitSet", "1.0", json!([1, 2]));
        assert!(serde_json::from_value::<QuotaEvent>(payload).is_err());
    }
}
