#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, Utc};
use cqrs_es::Aggregate;
use cqrs_es::test::TestFramework;
use uuid::Uuid;

use super::*;

type SessionTester = TestFramework<Session>;

fn token(n: u128) -> Uuid {
    Uuid::from_u128(0x70c0_0000 + n)
}

fn start_time() -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000, 0).unwrap()
}

fn day(n: i64) -> DateTime<Utc> {
    start_time() + Duration::days(n)
}

fn started() -> SessionEvent {
    SessionEvent::SessionStarted {
        session_id: SessionId(Uuid::from_u128(1)),
        user_id: UserId(Uuid::from_u128(2)),
        refresh_token_id: token(1),
        expires_at: day(1),
    }
}

fn rotate(presented: u128, next: u128, now: DateTime<Utc>) -> SessionCommand {
    SessionCommand::RotateRefreshToken {
        presented_token_id: token(presented),
        next_token_id: token(next),
        now,
        expires_at: now + Duration::days(1),
    }
}

fn rotated(previous: u128, next: u128, expires_at: DateTime<Utc>) -> SessionEvent {
    SessionEvent::RefreshTokenRotated {
        previous_token_id: token(previous),
        next_token_id: token(next),
        expires_at,
    }
}

fn revoked(reason: RevocationReason) -> SessionEvent {
    SessionEvent::SessionRevoked { reason }
}

#[test]
fn starting_a_session_records_its_first_refresh_token() {
    SessionTester::with(())
        .given_no_previous_events()
        .when(SessionCommand::StartSession {
            session_id: SessionId(Uuid::from_u128(1)),
            user_id: UserId(Uuid::from_u128(2)),
            refresh_token_id: token(1),
            expires_at: day(1),
        })
        .then_expect_events(vec![started()]);
}

#[test]
fn starting_a_session_twice_is_refused() {
    SessionTester::with(())
        .given(vec![started()])
        .when(SessionCommand::StartSession {
            session_id: SessionId(Uuid::from_u128(1)),
            user_id: UserId(Uuid::from_u128(2)),
            refresh_token_id: token(9),
            expires_at: day(1),
        })
        .then_expect_error(SessionError::AlreadyStarted);
}

#[test]
fn presenting_the_current_refresh_token_rotates_it() {
    let now = start_time() + Duration::hours(1);
    SessionTester::with(())
        .given(vec![started()])
        .when(rotate(1, 2, now))
        .then_expect_events(vec![rotated(1, 2, now + Duration::days(1))]);
}

#[test]
fn the_token_issued_by_a_rotation_can_be_rotated_in_turn() {
    SessionTester::with(())
        .given(vec![started(), rotated(1, 2, day(2))])
        .when(rotate(2, 3, day(1)))
        .then_expect_events(vec![rotated(2, 3, day(2))]);
}

#[test]
fn presenting_a_rotated_refresh_token_revokes_the_session() {
    SessionTester::with(())
        .given(vec![started(), rotated(1, 2, day(2))])
        .when(rotate(1, 3, day(1)))
        .then_expect_events(vec![revoked(RevocationReason::RefreshReuse)]);
}

#[test]
fn presenting_an_unknown_refresh_token_is_refused() {
    SessionTester::with(())
        .given(vec![started()])
        .when(rotate(42, 2, start_time()))
        .then_expect_error(SessionError::UnknownRefreshToken);
}

#[test]
fn refreshing_a_revoked_session_is_refused() {
    SessionTester::with(())
        .given(vec![started(), revoked(RevocationReason::Logout)])
        .when(rotate(1, 2, start_time()))
        .then_expect_error(SessionError::Revoked);
}

#[test]
fn refreshing_at_the_expiry_instant_is_refused() {
    SessionTester::with(())
        .given(vec![started()])
        .when(rotate(1, 2, day(1)))
        .then_expect_error(SessionError::Expired);
}

#[test]
fn refreshing_one_second_before_expiry_is_allowed() {
    let now = day(1) - Duration::seconds(1);
    SessionTester::with(())
        .given(vec![started()])
        .when(rotate(1, 2, now))
        .then_expect_events(vec![rotated(1, 2, now + Duration::days(1))]);
}

#[test]
fn refreshing_a_never_started_session_is_refused() {
    SessionTester::with(())
        .given_no_previous_events()
        .when(rotate(1, 2, start_time()))
        .then_expect_error(SessionError::NotStarted);
}

#[test]
fn repeating_the_rotation_that_produced_the_current_token_changes_nothing() {
    SessionTester::with(())
        .given(vec![started(), rotated(1, 2, day(2))])
        .when(rotate(1, 2, day(1)))
        .then_expect_events(vec![]);
}

#[test]
fn rotating_into_a_token_id_already_used_is_refused() {
    SessionTester::with(())
        .given(vec![started(), rotated(1, 2, day(2))])
        .when(rotate(2, 1, day(1)))
        .then_expect_error(SessionError::NextTokenIdNotFresh);
}

#[test]
fn rotating_a_token_into_itself_is_refused() {
    SessionTester::with(())
        .given(vec![started()])
        .when(rotate(1, 1, start_time()))
        .then_expect_error(SessionError::NextTokenIdNotFresh);
}

#[test]
fn logging_out_revokes_the_session() {
    SessionTester::with(())
        .given(vec![started()])
        .when(SessionCommand::RevokeSession {
            reason: RevocationReason::Logout,
        })
        .then_expect_events(vec![revoked(RevocationReason::Logout)]);
}

#[test]
fn revoking_a_revoked_session_changes_nothing() {
    SessionTester::with(())
        .given(vec![started(), revoked(RevocationReason::RefreshReuse)])
        .when(SessionCommand::RevokeSession {
            reason: RevocationReason::Logout,
        })
        .then_expect_events(vec![]);
}

#[test]
fn revoking_a_never_started_session_is_refused() {
    SessionTester::with(())
        .given_no_previous_events()
        .when(SessionCommand::RevokeSession {
            reason: RevocationReason::Logout,
        })
        .then_expect_error(SessionError::NotStarted);
}

#[test]
fn the_session_exposes_its_state() {
    let mut session = Session::default();
    assert!(!session.is_started());
    for event in [started(), rotated(1, 2, day(2))] {
        session.apply(event);
    }
    assert_eq!(session.user_id(), Some(UserId(Uuid::from_u128(2))));
    assert_eq!(session.session_id(), Some(SessionId(Uuid::from_u128(1))));
    assert_eq!(session.current_refresh_token_id(), Some(token(2)));
    assert_eq!(session.expires_at(), Some(day(2)));
    assert!(session.is_active(day(1)));
    assert!(!session.is_active(day(2)));
    assert!(!session.is_revoked());
    session.apply(revoked(RevocationReason::RefreshReuse));
    assert!(session.is_revoked());
    assert_eq!(
        session.revocation_reason(),
        Some(RevocationReason::RefreshReuse)
    );
    assert!(!session.is_active(day(1)));
}
