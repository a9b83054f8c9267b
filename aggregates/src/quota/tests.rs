#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::test::TestFramework;
use uuid::Uuid;

use super::*;

type QuotaTester = TestFramework<Quota>;

fn upload(n: u128) -> UploadId {
    UploadId(Uuid::from_u128(n))
}

fn deadline() -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000, 0).unwrap()
}

fn limit_set(bytes: u64) -> QuotaEvent {
    QuotaEvent::QuotaLimitSet {
        limit: Bytes(bytes),
    }
}

fn set_limit(bytes: u64) -> QuotaCommand {
    QuotaCommand::SetQuotaLimit {
        limit: Bytes(bytes),
    }
}

fn reserved(id: u128, bytes: u64) -> QuotaEvent {
    QuotaEvent::QuotaReserved {
        upload_id: upload(id),
        bytes: Bytes(bytes),
        expires_at: deadline(),
    }
}

fn reserve(id: u128, bytes: u64) -> QuotaCommand {
    QuotaCommand::ReserveQuota {
        upload_id: upload(id),
        bytes: Bytes(bytes),
        expires_at: deadline(),
    }
}

fn confirmed(id: u128, reserved_bytes: u64, actual_bytes: u64) -> QuotaEvent {
    QuotaEvent::QuotaConfirmed {
        upload_id: upload(id),
        score_id: upload(id),
        reserved_bytes: Bytes(reserved_bytes),
        actual_bytes: Bytes(actual_bytes),
    }
}

fn confirm(id: u128, actual_bytes: u64) -> QuotaCommand {
    QuotaCommand::ConfirmQuota {
        upload_id: upload(id),
        score_id: upload(id),
        actual_bytes: Bytes(actual_bytes),
    }
}

fn released(id: u128, bytes: u64, reason: ReleaseReason) -> QuotaEvent {
    QuotaEvent::ReservationReleased {
        upload_id: upload(id),
        bytes: Bytes(bytes),
        reason,
    }
}

fn release(id: u128, reason: ReleaseReason) -> QuotaCommand {
    QuotaCommand::ReleaseReservation {
        upload_id: upload(id),
        reason,
    }
}

fn score_released(id: u128, bytes: u64) -> QuotaEvent {
    QuotaEvent::QuotaReleased {
        score_id: upload(id),
        bytes: Bytes(bytes),
    }
}

fn release_score(id: u128) -> QuotaCommand {
    QuotaCommand::ReleaseQuota {
        score_id: upload(id),
    }
}

fn exceeded(available: u64, requested: u64) -> QuotaError {
    QuotaError::QuotaExceeded {
        available: Bytes(available),
        requested: Bytes(requested),
    }
}

fn fold(events: Vec<QuotaEvent>) -> Quota {
    let mut quota = Quota::default();
    for event in events {
        quota.apply(event);
    }
    quota
}

// --- SetQuotaLimit -------------------------------------------------------------------

#[test]
fn setting_a_limit_on_a_new_quota_records_it() {
    QuotaTester::with(())
        .given_no_previous_events()
        .when(set_limit(1_000))
        .then_expect_events(vec![limit_set(1_000)]);
}

#[test]
fn setting_a_zero_limit_on_a_new_quota_is_recorded() {
    QuotaTester::with(())
        .given_no_previous_events()
        .when(set_limit(0))
        .then_expect_events(vec![limit_set(0)]);
}

#[test]
fn setting_the_same_limit_again_changes_nothing() {
    QuotaTester::with(())
        .given(vec![limit_set(1_000)])
        .when(set_limit(1_000))
        .then_expect_events(vec![]);
}

#[test]
fn lowering_the_limit_below_usage_is_allowed() {
    QuotaTester::with(())
        .given(vec![
            limit_set(1_000),
            reserved(1, 800),
            confirmed(1, 800, 800),
        ])
        .when(set_limit(500))
        .then_expect_events(vec![limit_set(500)]);
}

// --- ReserveQuota ----------------------------------------------------------------------

#[test]
fn reserving_within_the_limit_is_allowed() {
    QuotaTester::with(())
        .given(vec![limit_set(1_000)])
        .when(reserve(1, 400))
        .then_expect_events(vec![reserved(1, 400)]);
}

#[test]
fn reserving_exactly_the_remaining_bytes_is_allowed() {
    QuotaTester::with(())
        .given(vec![limit_set(1_000), reserved(1, 400)])
        .when(reserve(2, 600))
        .then_expect_events(vec![reserved(2, 600)]);
}

#[test]
fn reserving_one_byte_over_the_limit_is_refused() {
    QuotaTester::with(())
        .given(vec![limit_set(1_000), reserved(1, 400)])
        .when(reserve(2, 601))
        .then_expect_error(exceeded(600, 601));
}

#[test]
fn used_and_reserved_bytes_both_count_against_the_limit() {
    QuotaTester::with(())
        .given(vec![
            limit_set(1_000),
            reserved(1, 300),
            confirmed(1, 300, 300),
            reserved(2, 300),
        ])
        .when(reserve(3, 401))
        .then_expect_error(exceeded(400, 401));
}

#[test]
fn a_quota_whose_limit_was_never_set_refuses_every_reservation() {
    QuotaTester::with(())
        .given_no_previous_events()
        .when(reserve(1, 1))
        .then_expect_error(exceeded(0, 1));
}

#[test]
fn reserving_the_largest_possible_size_is_refused_without_overflow() {
    QuotaTester::with(())
        .given(vec![limit_set(u64::MAX), reserved(1, u64::MAX)])
        .when(reserve(2, u64::MAX))
        .then_expect_error(exceeded(0, u64::MAX));
}

#[test]
fn reserving_zero_bytes_is_refused() {
    QuotaTester::with(())
        .given(vec![limit_set(1_000)])
        .when(reserve(1, 0))
        .then_expect_error(QuotaError::EmptyReservation);
}

#[test]
fn repeating_an_identical_open_reservation_changes_nothing() {
    QuotaTester::with(())
        .given(vec![limit_set(1_000), reserved(1, 1_000)])
        .when(reserve(1, 1_000))
        .then_expect_events(vec![]);
}

#[test]
fn reserving_an_upload_again_with_other_terms_is_refused() {
    QuotaTester::with(())
        .given(vec![limit_set(1_000), reserved(1, 400)])
        .when(reserve(1, 500))
        .then_expect_error(QuotaError::DuplicateReservation {
            upload_id: upload(1),
        });
}

#[test]
fn reserving_an_upload_whose_reservation_was_released_is_refused() {
    QuotaTester::with(())
        .given(vec![
            limit_set(1_000),
            reserved(1, 400),
            released(1, 400, ReleaseReason::Expired),
        ])
        .when(reserve(1, 400))
        .then_expect_error(QuotaError::DuplicateReservation {
            upload_id: upload(1),
        });
}

#[test]
fn reserving_an_upload_whose_reservation_was_confirmed_is_refused() {
    QuotaTester::with(())
        .given(vec![
            limit_set(1_000),
            reserved(1, 400),
            confirmed(1, 400, 400),
        ])
        .when(reserve(1, 400))
        .then_expect_error(QuotaError::DuplicateReservation {
            upload_id: upload(1),
        });
}

#[test]
fn lowering_the_limit_below_usage_blocks_only_new_reservations() {
    let history = vec![
        limit_set(1_000),
        reserved(1, 600),
        confirmed(1, 600, 600),
        reserved(2, 300),
        limit_set(500),
    ];
    QuotaTester::with(())
        .given(history.clone())
        .when(reserve(3, 1))
        .then_expect_error(exceeded(0, 1));
    QuotaTester::with(())
        .given(history.clone())
        .when(confirm(2, 300))
        .then_expect_events(vec![confirmed(2, 300, 300)]);
    QuotaTester::with(())
        .given(history)
        .when(release_score(1))
        .then_expect_events(vec![score_released(1, 600)]);
}

// --- ConfirmQuota ----------------------------------------------------------------------

#[test]
fn confirming_a_reservation_moves_its_bytes_to_used() {
    QuotaTester::with(())
        .given(vec![limit_set(1_000), reserved(1, 400)])
        .when(confirm(1, 400))
        .then_expect_events(vec![confirmed(1, 400, 400)]);
    let quota = fold(vec![
        limit_set(1_000),
        reserved(1, 400),
        confirmed(1, 400, 400),
    ]);
    assert_eq!((quota.used(), quota.reserved()), (Bytes(400), Bytes(0)));
}

#[test]
fn confirming_fewer_bytes_than_reserved_counts_only_the_actual_size() {
    QuotaTester::with(())
        .given(vec![limit_set(1_000), reserved(1, 400)])
        .when(confirm(1, 350))
        .then_expect_events(vec![confirmed(1, 400, 350)]);
    let quota = fold(vec![
        limit_set(1_000),
        reserved(1, 400),
        confirmed(1, 400, 350),
    ]);
    assert_eq!((quota.used(), quota.available()), (Bytes(350), Bytes(650)));
}

#[test]
fn confirming_within_the_reservation_is_allowed_after_the_limit_was_lowered() {
    QuotaTester::with(())
        .given(vec![limit_set(1_000), reserved(1, 900), limit_set(100)])
        .when(confirm(1, 900))
        .then_expect_events(vec![confirmed(1, 900, 900)]);
}

#[test]
fn confirming_more_than_reserved_is_allowed_when_the_excess_fits() {
    QuotaTester::with(())
        .given(vec![limit_set(1_000), reserved(1, 400)])
        .when(confirm(1, 1_000))
        .then_expect_events(vec![confirmed(1, 400, 1_000)]);
}

#[test]
fn confirming_more_than_reserved_is_refused_when_the_excess_does_not_fit() {
    QuotaTester::with(())
        .given(vec![limit_set(1_000), reserved(1, 400), reserved(2, 500)])
        .when(confirm(1, 501))
        .then_expect_error(exceeded(500, 501));
}

#[test]
fn confirming_an_unknown_upload_is_refused() {
    QuotaTester::with(())
        .given(vec![limit_set(1_000)])
        .when(confirm(1, 10))
        .then_expect_error(QuotaError::UnknownReservation {
            upload_id: upload(1),
        });
}

#[test]
fn confirming_a_released_reservation_is_refused() {
    QuotaTester::with(())
        .given(vec![
            limit_set(1_000),
            reserved(1, 400),
            released(1, 400, ReleaseReason::Expired),
        ])
        .when(confirm(1, 400))
        .then_expect_error(QuotaError::ReservationReleased {
            upload_id: upload(1),
        });
}

#[test]
fn confirming_an_already_confirmed_upload_changes_nothing() {
    QuotaTester::with(())
        .given(vec![
            limit_set(1_000),
            reserved(1, 400),
            confirmed(1, 400, 400),
        ])
        .when(confirm(1, 400))
        .then_expect_events(vec![]);
}

#[test]
fn confirming_into_a_score_that_already_counts_another_upload_is_refused() {
    QuotaTester::with(())
        .given(vec![
            limit_set(1_000),
            reserved(1, 100),
            confirmed(1, 100, 100),
            reserved(2, 100),
        ])
        .when(QuotaCommand::ConfirmQuota {
            upload_id: upload(2),
            score_id: upload(1),
            actual_bytes: Bytes(100),
        })
        .then_expect_error(QuotaError::ScoreAlreadyConfirmed {
            score_id: upload(1),
        });
}

// --- ReleaseReservation ----------------------------------------------------------------

#[test]
fn releasing_an_open_reservation_gives_its_bytes_back() {
    QuotaTester::with(())
        .given(vec![limit_set(1_000), reserved(1, 400)])
        .when(release(1, ReleaseReason::Cancelled))
        .then_expect_events(vec![released(1, 400, ReleaseReason::Cancelled)]);
    let quota = fold(vec![
        limit_set(1_000),
        reserved(1, 400),
        released(1, 400, ReleaseReason::Cancelled),
    ]);
    assert_eq!(quota.available(), Bytes(1_000));
}

#[test]
fn releasing_a_released_reservation_changes_nothing() {
    QuotaTester::with(())
        .given(vec![
            limit_set(1_000),
            reserved(1, 400),
            released(1, 400, ReleaseReason::Expired),
        ])
        .when(release(1, ReleaseReason::Rejected))
        .then_expect_events(vec![]);
}

#[test]
fn releasing_an_unknown_reservation_is_refused() {
    QuotaTester::with(())
        .given(vec![limit_set(1_000)])
        .when(release(1, ReleaseReason::Expired))
        .then_expect_error(QuotaError::UnknownReservation {
            upload_id: upload(1),
        });
}

#[test]
fn releasing_a_confirmed_reservation_is_refused() {
    QuotaTester::with(())
        .given(vec![
            limit_set(1_000),
            reserved(1, 400),
            confirmed(1, 400, 400),
        ])
        .when(release(1, ReleaseReason::Expired))
        .then_expect_error(QuotaError::ReservationConfirmed {
            upload_id: upload(1),
        });
}

// --- ReleaseQuota ----------------------------------------------------------------------

#[test]
fn releasing_a_score_frees_its_actual_bytes() {
    QuotaTester::with(())
        .given(vec![
            limit_set(1_000),
            reserved(1, 400),
            confirmed(1, 400, 380),
        ])
        .when(release_score(1))
        .then_expect_events(vec![score_released(1, 380)]);
}

#[test]
fn releasing_an_already_released_score_changes_nothing() {
    QuotaTester::with(())
        .given(vec![
            limit_set(1_000),
            reserved(1, 400),
            confirmed(1, 400, 400),
            score_released(1, 400),
        ])
        .when(release_score(1))
        .then_expect_events(vec![]);
}

#[test]
fn releasing_a_score_never_confirmed_is_refused() {
    QuotaTester::with(())
        .given(vec![limit_set(1_000), reserved(1, 400)])
        .when(release_score(1))
        .then_expect_error(QuotaError::UnknownScore {
            score_id: upload(1),
        });
}

// --- State -----------------------------------------------------------------------------

#[test]
fn available_bytes_are_never_negative_under_a_lowered_limit() {
    let quota = fold(vec![
        limit_set(1_000),
        reserved(1, 800),
        confirmed(1, 800, 800),
        limit_set(500),
    ]);
    assert_eq!(quota.limit(), Bytes(500));
    assert_eq!(quota.used(), Bytes(800));
    assert_eq!(quota.available(), Bytes::ZERO);
}

#[test]
fn the_snapshot_round_trips_through_json() {
    let quota = fold(vec![
        limit_set(1_000),
        reserved(1, 400),
        confirmed(1, 400, 380),
        reserved(2, 100),
        reserved(3, 50),
        released(3, 50, ReleaseReason::Rejected),
    ]);
    let json = serde_json::to_string(&quota).unwrap();
    assert_eq!(serde_json::from_str::<Quota>(&json).unwrap(), quota);
    // Deterministic: the same state always snapshots to the same bytes.
    assert_eq!(serde_json::to_string(&fold_again(&quota)).unwrap(), json);
}

fn fold_again(quota: &Quota) -> Quota {
    serde_json::from_value(serde_json::to_value(quota).unwrap()).unwrap()
}

// --- Property: the invariant under arbitrary command sequences ------------------------

/// A tiny deterministic generator (SplitMix64): reproducible sequences, no extra crates.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    /// Mostly sizes right at the boundary of what `quota` allows (`room` is the most
    /// that fits), sometimes anywhere, sometimes the extremes.
    fn bytes(&mut self, room: Bytes) -> Bytes {
        match self.below(10) {
            0 => Bytes(0),
            1 => Bytes(u64::MAX - self.below(3)),
            2..=5 => room.saturating_add(Bytes(self.below(2))),
            _ => Bytes(self.below(1_200)),
        }
    }

    fn command(&mut self, quota: &Quota) -> QuotaCommand {
        let upload_id = upload(u128::from(self.below(6)));
        match self.below(6) {
            0 => QuotaCommand::SetQuotaLimit {
                limit: Bytes([0, 250, 1_000, 1_100][usize::try_from(self.below(4)).unwrap()]),
            },
            1 | 2 => QuotaCommand::ReserveQuota {
                upload_id,
                bytes: self.bytes(quota.available()),
                expires_at: deadline(),
            },
            3 => {
                let reserved = quota.reservation(upload_id).map_or(Bytes(0), |r| r.bytes);
                QuotaCommand::ConfirmQuota {
                    upload_id,
                    score_id: upload_id,
                    actual_bytes: self.bytes(quota.available().saturating_add(reserved)),
                }
            }
            4 => QuotaCommand::ReleaseReservation {
                upload_id,
                reason: ReleaseReason::Expired,
            },
            _ => QuotaCommand::ReleaseQuota {
                score_id: upload_id,
            },
        }
    }
}

fn total(quota: &Quota) -> Bytes {
    quota.used().saturating_add(quota.reserved())
}

#[test]
fn no_command_but_set_quota_limit_ever_pushes_usage_past_the_limit() {
    let mut rng = SplitMix(0x5C0E_3A7E);
    // How often each event and refusal occurred, so the test proves it explored them.
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for _ in 0..2_000 {
        let mut quota = Quota::default();
        let mut history = Vec::new();
        for _ in 0..40 {
            let command = rng.command(&quota);
            let sets_limit = matches!(command, QuotaCommand::SetQuotaLimit { .. });
            let before = quota.clone();
            let events = match quota.decide(command) {
                Ok(events) => events,
                Err(error) => {
                    let rule = format!("{error:?}");
                    let rule = rule.split([' ', '{']).next().unwrap_or_default();
                    *seen.entry(format!("refused: {rule}")).or_default() += 1;
                    continue;
                }
            };
            for event in events {
                *seen.entry(event.event_type()).or_default() += 1;
                history.push(event.clone());
                quota.apply(event);
            }
            if !sets_limit {
                assert!(
                    total(&quota) <= quota.limit() || total(&quota) <= total(&before),
                    "{command:?} grew usage past the limit: {before:?} -> {quota:?}"
                );
            }

            // The counters always agree with the per-upload records they summarise.
            let open: u64 = quota
                .reservations()
                .filter(|(_, r)| r.status == ReservationStatus::Open)
                .map(|(_, r)| r.bytes.get())
                .sum();
            assert_eq!(quota.reserved(), Bytes(open));
            let used: u64 = quota
                .scores
                .values()
                .filter(|score| !score.released)
                .map(|score| score.bytes.get())
                .sum();
            assert_eq!(quota.used(), Bytes(used));
        }
        // Auditors replay the stream: the replay must equal the live state.
        assert_eq!(fold(history), quota);
    }
    for outcome in [
        "QuotaLimitSet",
        "QuotaReserved",
        "QuotaConfirmed",
        "ReservationReleased",
        "QuotaReleased",
        "refused: QuotaExceeded",
        "refused: EmptyReservation",
        "refused: DuplicateReservation",
        "refused: UnknownReservation",
        "refused: ReservationReleased",
        "refused: ReservationConfirmed",
        "refused: UnknownScore",
    ] {
        assert!(
            seen.get(outcome).copied().unwrap_or_default() >= 20,
            "{outcome} barely exercised: {seen:?}"
        );
    }
}
