//! Comparing the replay with the read models built from the same events.
//!
//! Each read model is compared where it is sound to: `quota_ledger` row by row (a row its
//! projection has passed must exist and match), `quota_balances` against the replay at
//! the row's own version (and at the end once its projection has passed the last event),
//! `open_reservations` once its projection has passed the last quota event, and the live
//! scores once the score projection and the quota saga have passed everything committed
//! — earlier, a lagging follower is not a divergence, and the check is left out of
//! `checked`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use super::replay::Replayed;
use super::snapshot::{BalanceRow, LedgerRow, Snapshot};

/// Where a read model disagrees with the replay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Divergence {
    /// `quota_ledger`, `quota` (the `quota_balances` table), `open_reservations` or `scores`.
    pub read_model: String,
    /// The log position of the event where they part (for a sum, the user's last event);
    /// `null` when there is no event to point at.
    pub position: Option<i64>,
    /// What the replay says, for the fields that differ.
    #[schema(value_type = Object)]
    pub expected: Value,
    /// What the read model holds for them (`null`: no row).
    #[schema(value_type = Object)]
    pub found: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Verification {
    /// The first divergence by position.
    pub divergence: Option<Divergence>,
    /// The read models compared.
    pub checked: Vec<&'static str>,
    /// Whether every read model could be compared (no follower was behind).
    pub complete: bool,
}

/// Compares `replayed` (the whole stream of the snapshot) with the snapshot's read models.
pub fn verify(replayed: &[Replayed], snapshot: &Snapshot) -> Verification {
    let mut checked = vec!["quota_ledger", "quota"];
    let mut found = vec![ledger(replayed, snapshot), balance(replayed, snapshot)];
    let last = replayed.last();
    let reservations_current =
        last.is_none_or(|last| snapshot.checkpoints.open_reservations >= last.cursor);
    if reservations_current {
        checked.push("open_reservations");
        found.push(open_reservations(replayed, snapshot));
    }
    let scores_current = snapshot.checkpoints.scores >= snapshot.head
        && snapshot.checkpoints.quota_saga >= snapshot.head;
    if scores_current {
        checked.push("scores");
        found.push(scores(replayed, snapshot));
    }
    let divergence = found
        .into_iter()
        .flatten()
        .min_by_key(|divergence| divergence.position.unwrap_or(i64::MAX));
    Verification {
        divergence,
        checked,
        complete: reservations_current && scores_current,
    }
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The named pairs that differ, as `expected`/`found` objects; `None` when all agree.
fn differing(pairs: &[(&str, Value, Value)]) -> Option<(Value, Value)> {
    let mut expected = Map::new();
    let mut found = Map::new();
    for (name, want, have) in pairs {
        if want != have {
            expected.insert((*name).to_owned(), want.clone());
            found.insert((*name).to_owned(), have.clone());
        }
    }
    (!expected.is_empty()).then_some((Value::Object(expected), Value::Object(found)))
}

fn divergence(
    read_model: &str,
    position: Option<i64>,
    expected: Value,
    found: Value,
) -> Divergence {
    Divergence {
        read_model: read_model.to_owned(),
        position,
        expected,
        found,
    }
}

fn ledger(replayed: &[Replayed], snapshot: &Snapshot) -> Option<Divergence> {
    let mut rows = snapshot.ledger.iter().peekable();
    for event in replayed {
        let entry = &event.entry;
        // Rows of versions the stream does not have (duplicates, strays) come first.
        if let Some(row) = rows.next_if(|row| row.version < entry.version) {
            return Some(stray_row(row));
        }
        match rows.next_if(|row| row.version == entry.version) {
            Some(row) => {
                if let Some((expected, found)) = differing(&ledger_pairs(event, row)) {
                    return Some(divergence(
                        "quota_ledger",
                        Some(entry.position),
                        expected,
                        found,
                    ));
                }
            }
            // Missing, though its projection has passed the event.
            None if snapshot.checkpoints.quota_ledger >= event.cursor => {
                return Some(divergence(
                    "quota_ledger",
                    Some(entry.position),
                    json!({"version": entry.version}),
                    Value::Null,
                ));
            }
            // Not projected yet: neither is anything after it.
            None => return rows.next().map(stray_row),
        }
    }
    rows.next().map(stray_row)
}

fn stray_row(row: &LedgerRow) -> Divergence {
    divergence(
        "quota_ledger",
        Some(row.position),
        Value::Null,
        json!({"version": row.version, "event": row.event}),
    )
}

fn ledger_pairs(event: &Replayed, row: &LedgerRow) -> Vec<(&'static str, Value, Value)> {
    let entry = &event.entry;
    let id = |id: Option<uuid::Uuid>| json!(id.map(|id| id.to_string()));
    vec![
        ("position", json!(entry.position), json!(row.position)),
        ("event", json!(entry.event), json!(row.event)),
        ("upload_id", id(entry.upload_id), json!(row.upload_id)),
        ("score_id", id(entry.score_id), json!(row.score_id)),
        (
            "delta_used_bytes",
            json!(entry.delta_used_bytes),
            json!(row.delta_used_bytes),
        ),
        (
            "delta_reserved_bytes",
            json!(entry.delta_reserved_bytes),
            json!(row.delta_reserved_bytes),
        ),
        (
            "used_bytes_after",
            json!(to_i64(entry.used_bytes_after)),
            json!(row.used_bytes_after),
        ),
        (
            "reserved_bytes_after",
            json!(to_i64(entry.reserved_bytes_after)),
            json!(row.reserved_bytes_after),
        ),
        (
            "limit_bytes_after",
            json!(to_i64(entry.limit_bytes_after)),
            json!(row.limit_bytes_after),
        ),
    ]
}

fn balance(replayed: &[Replayed], snapshot: &Snapshot) -> Option<Divergence> {
    let last = replayed.last();
    let Some(row) = &snapshot.balance else {
        // No row is right only while the projection has not reached the first event.
        return replayed
            .first()
            .filter(|first| snapshot.checkpoints.quota_balances >= first.cursor)
            .map(|first| {
                divergence(
                    "quota",
                    Some(first.entry.position),
                    json!({"version": first.entry.version}),
                    Value::Null,
                )
            });
    };
    // Once the projection has passed the last event the row must be at its version;
    // before, it must equal the replay at whatever version it is at.
    let expected_version = match last {
        Some(last) if snapshot.checkpoints.quota_balances >= last.cursor => last.entry.version,
        _ => row.version,
    };
    let Some(at) = replayed
        .iter()
        .find(|event| event.entry.version == expected_version)
    else {
        return Some(divergence(
            "quota",
            last.map(|last| last.entry.position),
            json!({"version": last.map_or(0, |last| last.entry.version)}),
            json!({"version": row.version}),
        ));
    };
    differing(&balance_pairs(at, row))
        .map(|(expected, found)| divergence("quota", Some(at.entry.position), expected, found))
}

fn balance_pairs(at: &Replayed, row: &BalanceRow) -> Vec<(&'static str, Value, Value)> {
    vec![
        ("version", json!(at.entry.version), json!(row.version)),
        (
            "limit_bytes",
            json!(to_i64(at.balance.limit)),
            json!(row.limit_bytes),
        ),
        (
            "used_bytes",
            json!(to_i64(at.balance.used)),
            json!(row.used_bytes),
        ),
        (
            "reserved_bytes",
            json!(to_i64(at.balance.reserved)),
            json!(row.reserved_bytes),
        ),
    ]
}

fn open_reservations(replayed: &[Replayed], snapshot: &Snapshot) -> Option<Divergence> {
    let reserved = replayed.last().map_or(0, |last| last.balance.reserved);
    differing(&[(
        "reserved_bytes",
        json!(to_i64(reserved)),
        json!(snapshot.open_reserved_bytes),
    )])
    .map(|(expected, found)| {
        divergence(
            "open_reservations",
            replayed.last().map(|last| last.entry.position),
            expected,
            found,
        )
    })
}

fn scores(replayed: &[Replayed], snapshot: &Snapshot) -> Option<Divergence> {
    let used = replayed.last().map_or(0, |last| last.balance.used);
    differing(&[(
        "used_bytes",
        json!(to_i64(used)),
        json!(snapshot.live_score_bytes),
    )])
    .map(|(expected, found)| {
        divergence(
            "scores",
            replayed.last().map(|last| last.entry.position),
            expected,
            found,
        )
    })
}
