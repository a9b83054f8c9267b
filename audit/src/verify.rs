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

use eventstore::LogCursor;

use super::replay::{AuditEntry, Replayed};
use super::snapshot::{BalanceRow, LedgerRow, Snapshot};

/// Where a read model disagrees with the replay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Divergence {
    /// `quota_ledger`, `quota` (the `quota_balances` table), `open_reservations` or `scores`.
    pub read_model: String,
    /// The log position of the event where they part (for a sum, the user's last event);
    /// `null` when there is no event to point at.
    pub position: Option<i64>,
    /// What the replay says, for the fields that differ.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub expected: Value,
    /// What the read model holds for them (`null`: no row).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub found: Value,
}

/// One line for people: `scores diverges at position 42: expected {…}, found {…}`.
impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} diverges at position ", self.read_model)?;
        match self.position {
            Some(position) => write!(f, "{position}")?,
            None => f.write_str("-")?,
        }
        write!(f, ": expected {}, found {}", self.expected, self.found)
    }
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
    let mut found = vec![snapshot.ledger.clone(), balance(replayed, snapshot)];
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

/// The first `quota_ledger` row (`rows`, by version) that disagrees with the replay:
/// rows of versions the stream lacks where they fall, each event's row field by field,
/// a row missing though its projection (at `projected`) has passed the event, and any row
/// after an event not projected yet.
pub(super) fn ledger(
    replayed: &[Replayed],
    rows: &[LedgerRow],
    projected: LogCursor,
) -> Option<Divergence> {
    let mut rows = rows.iter().peekable();
    for event in replayed {
        let entry = &event.entry;
        // Rows of versions the stream does not have (duplicates, strays) come first.
        if let Some(row) = rows.next_if(|row| row.version < entry.version) {
            return Some(stray_row(row));
        }
        match rows.next_if(|row| row.version == entry.version) {
            Some(row) => {
                if agrees(entry, row) {
                    continue;
                }
                if let Some((expected, found)) = differing(&ledger_pairs(entry, row)) {
                    return Some(divergence(
                        "quota_ledger",
                        Some(entry.position),
                        expected,
                        found,
                    ));
                }
            }
            // Missing, though its projection has passed the event.
            None if projected >= event.cursor => {
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

/// `ledger_pairs` all equal, without building them: the check every row takes.
fn agrees(entry: &AuditEntry, row: &LedgerRow) -> bool {
    row.position == entry.position
        && row.event == entry.event
        && same_id(entry.upload_id, row.upload_id.as_deref())
        && same_id(entry.score_id, row.score_id.as_deref())
        && row.delta_used_bytes == entry.delta_used_bytes
        && row.delta_reserved_bytes == entry.delta_reserved_bytes
        && row.used_bytes_after == to_i64(entry.used_bytes_after)
        && row.reserved_bytes_after == to_i64(entry.reserved_bytes_after)
        && row.limit_bytes_after == to_i64(entry.limit_bytes_after)
}

/// Whether a stored id is the id's text (lower-case, hyphenated), without formatting it
/// into a `String`.
fn same_id(id: Option<uuid::Uuid>, text: Option<&str>) -> bool {
    match (id, text) {
        (None, None) => true,
        (Some(id), Some(text)) => {
            let mut buffer = uuid::Uuid::encode_buffer();
            id.hyphenated().encode_lower(&mut buffer) == text
        }
        _ => false,
    }
}

fn stray_row(row: &LedgerRow) -> Divergence {
    divergence(
        "quota_ledger",
        Some(row.position),
        Value::Null,
        json!({"version": row.version, "event": row.event}),
    )
}

fn ledger_pairs(entry: &AuditEntry, row: &LedgerRow) -> Vec<(&'static str, Value, Value)> {
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

#[cfg(test)]
mod tests {
    use aggregates::quota::ledger::Balance;
    use chrono::{DateTime, Utc};

    use super::*;

    fn entry(random: u64) -> AuditEntry {
        let id = |salt: u64| {
            (random & salt != 0).then(|| uuid::Uuid::from_u128(u128::from(random ^ salt)))
        };
        AuditEntry {
            position: (random % 3) as i64,
            version: 1,
            occurred_at: DateTime::<Utc>::MIN_UTC,
            event: ["QuotaReserved", "QuotaLimitSet"][usize::from(random & 1 == 0)].to_owned(),
            event_version: "1.0".to_owned(),
            actor: None,
            request_id: None,
            causation_id: None,
            upload_id: id(2),
            score_id: id(4),
            delta_used_bytes: (random % 7) as i64 - 3,
            delta_reserved_bytes: -((random % 5) as i64),
            used_bytes_after: random % 11,
            reserved_bytes_after: random % 13,
            limit_bytes_after: u64::MAX - random % 2,
            available_bytes_after: 0,
        }
    }

    /// The row a projection writes for `entry`, field `broken` (0: none) changed.
    fn row_of(entry: &AuditEntry, broken: u64) -> LedgerRow {
        let mut row = LedgerRow {
            position: entry.position,
            version: entry.version,
            event: entry.event.clone(),
            upload_id: entry.upload_id.map(|id| id.to_string()),
            score_id: entry.score_id.map(|id| id.to_string()),
            delta_used_bytes: entry.delta_used_bytes,
            delta_reserved_bytes: entry.delta_reserved_bytes,
            used_bytes_after: to_i64(entry.used_bytes_after),
            reserved_bytes_after: to_i64(entry.reserved_bytes_after),
            limit_bytes_after: to_i64(entry.limit_bytes_after),
        };
        match broken {
            1 => row.position += 1,
            2 => row.event = "QuotaConfirmed".to_owned(),
            3 => row.upload_id = row.upload_id.map(|id| id.to_uppercase()),
            4 => row.score_id = Some("x".to_owned()),
            5 => row.upload_id = entry.upload_id.map(|id| id.simple().to_string()),
            6 => row.delta_reserved_bytes += 1,
            7 => row.used_bytes_after = -1,
            8 => row.reserved_bytes_after += 1,
            9 => row.limit_bytes_after -= 1,
            10 => row.delta_used_bytes = i64::MIN,
            _ => {}
        }
        row
    }

    #[test]
    fn a_row_agrees_exactly_when_no_field_differs() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let line = entry(state);
            // Rows of one line against another line, too.
            let other = row_of(&entry(state.rotate_left(7)), 0);
            for row in [row_of(&line, state % 11), other] {
                assert_eq!(
                    agrees(&line, &row),
                    differing(&ledger_pairs(&line, &row)).is_none(),
                    "{line:?}\n{row:?}"
                );
            }
        }
    }

    #[test]
    fn the_first_row_out_of_place_is_named() {
        let replayed: Vec<Replayed> = (1..=3)
            .map(|version| Replayed {
                cursor: LogCursor {
                    transaction_id: 1,
                    position: version * 10,
                },
                balance: Balance::default(),
                entry: AuditEntry {
                    position: version * 10,
                    version,
                    ..entry(0)
                },
            })
            .collect();
        let rows: Vec<LedgerRow> = replayed
            .iter()
            .map(|event| row_of(&event.entry, 0))
            .collect();
        let projected = |position| LogCursor {
            transaction_id: 1,
            position,
        };
        assert_eq!(ledger(&replayed, &rows, projected(30)), None);
        // A row of a version the stream lacks, before the first.
        let stray = LedgerRow {
            version: 0,
            position: 5,
            ..rows[0].clone()
        };
        let with_stray = [vec![stray], rows.clone()].concat();
        assert_eq!(
            ledger(&replayed, &with_stray, projected(30)).map(|found| found.position),
            Some(Some(5))
        );
        // Version 2 missing: named once projected, a later row named while not.
        let gap = [rows[0].clone(), rows[2].clone()];
        assert_eq!(
            ledger(&replayed, &gap, projected(30)).map(|found| found.found),
            Some(Value::Null)
        );
        assert_eq!(
            ledger(&replayed, &gap, projected(10)).map(|found| found.position),
            Some(Some(30))
        );
        assert_eq!(ledger(&replayed, &rows[..1], projected(10)), None);
    }
}
