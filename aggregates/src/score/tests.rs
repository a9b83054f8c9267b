#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, Utc};
use cqrs_es::Aggregate;
use cqrs_es::test::TestFramework;
use uuid::Uuid;

use super::*;

type ScoreTester = TestFramework<Score>;

const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn owner() -> UserId {
    UserId(Uuid::from_u128(1))
}

fn stranger() -> UserId {
    UserId(Uuid::from_u128(2))
}

fn requested_at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000, 0).unwrap()
}

fn deadline() -> DateTime<Utc> {
    requested_at() + Duration::minutes(5)
}

fn before_deadline() -> DateTime<Utc> {
    requested_at() + Duration::minutes(1)
}

fn requested() -> ScoreEvent {
    ScoreEvent::UploadRequested {
        upload_id: UploadId(Uuid::from_u128(10)),
        owner: owner(),
        filename: "Träumerei.pdf".to_owned(),
        size_bytes: Bytes(2_000_000),
        mime_type: "application/pdf".to_owned(),
        sha256: Some(SHA.to_owned()),
        object_key: "scores/10.pdf".to_owned(),
        expires_at: deadline(),
    }
}

fn metadata() -> ScoreMetadata {
    ScoreMetadata {
        title: "Träumerei".to_owned(),
        composer: Some("Robert Schumann".to_owned()),
        instrumentation: vec!["piano".to_owned()],
        tags: vec!["romantic".to_owned()],
        rating: Some(5),
        difficulty: Some(2),
        duration_seconds: Some(180),
        ..ScoreMetadata::default()
    }
}

fn confirm(user_id: UserId, now: DateTime<Utc>) -> ScoreCommand {
    ScoreCommand::ConfirmUpload {
        user_id,
        now,
        size_bytes: Bytes(2_000_000),
        etag: "\"etag-1\"".to_owned(),
        sha256: Some(SHA.to_owned()),
        metadata: metadata(),
    }
}

fn confirmed() -> ScoreEvent {
    ScoreEvent::UploadConfirmed {
        size_bytes: Bytes(2_000_000),
        etag: "\"etag-1\"".to_owned(),
        sha256: Some(SHA.to_owned()),
        metadata: metadata(),
    }
}

fn deleted() -> ScoreEvent {
    ScoreEvent::ScoreDeleted {
        size_bytes: Bytes(2_000_000),
    }
}

fn pdf_info() -> PdfInfo {
    PdfInfo {
        page_count: 2,
        page_width_pt: 595.0,
        page_height_pt: 842.0,
        title: Some("Kinderszenen".to_owned()),
        author: None,
        subject: None,
        keywords: None,
        encrypted: false,
        xmp: None,
    }
}

fn record_thumbnail() -> ScoreCommand {
    ScoreCommand::RecordThumbnail {
        object_key: "thumbnails/10.png".to_owned(),
        width: 300,
        height: 424,
    }
}

fn thumbnail_generated() -> ScoreEvent {
    ScoreEvent::ThumbnailGenerated {
        object_key: "thumbnails/10.png".to_owned(),
        width: 300,
        height: 424,
    }
}

fn failure(stage: ProcessingStage, reason: &str) -> ScoreCommand {
    ScoreCommand::RecordProcessingFailure {
        stage,
        reason: reason.to_owned(),
    }
}

fn failed(stage: ProcessingStage, reason: &str) -> ScoreEvent {
    ScoreEvent::ProcessingFailed {
        stage,
        reason: reason.to_owned(),
    }
}

fn update(patch: ScoreMetadataPatch) -> ScoreCommand {
    ScoreCommand::UpdateScoreMetadata {
        user_id: owner(),
        patch,
    }
}

fn fold(events: Vec<ScoreEvent>) -> Score {
    let mut score = Score::default();
    for event in events {
        score.apply(event);
    }
    score
}

// --- RequestUpload ---------------------------------------------------------------------

#[test]
fn requesting_an_upload_opens_it() {
    ScoreTester::with(())
        .given_no_previous_events()
        .when(ScoreCommand::RequestUpload {
            upload_id: UploadId(Uuid::from_u128(10)),
            owner: owner(),
            filename: "Träumerei.pdf".to_owned(),
            size_bytes: Bytes(2_000_000),
            mime_type: "application/pdf".to_owned(),
            sha256: Some(SHA.to_owned()),
            object_key: "scores/10.pdf".to_owned(),
            expires_at: deadline(),
        })
        .then_expect_events(vec![requested()]);
}

#[test]
fn requesting_the_same_upload_twice_is_refused() {
    let ScoreEvent::UploadRequested {
        upload_id,
        owner,
        filename,
        size_bytes,
        mime_type,
        sha256,
        object_key,
        expires_at,
    } = requested()
    else {
        unreachable!()
    };
    ScoreTester::with(())
        .given(vec![requested()])
        .when(ScoreCommand::RequestUpload {
            upload_id,
            owner,
            filename,
            size_bytes,
            mime_type,
            sha256,
            object_key,
            expires_at,
        })
        .then_expect_error(ScoreError::AlreadyRequested);
}

// --- ConfirmUpload ---------------------------------------------------------------------

#[test]
fn confirming_an_upload_creates_the_score() {
    ScoreTester::with(())
        .given(vec![requested()])
        .when(confirm(owner(), before_deadline()))
        .then_expect_events(vec![confirmed()]);
}

#[test]
fn confirming_stores_the_metadata_trimmed() {
    let ScoreCommand::ConfirmUpload {
        user_id,
        now,
        size_bytes,
        etag,
        sha256,
        ..
    } = confirm(owner(), before_deadline())
    else {
        unreachable!()
    };
    let untrimmed = ScoreMetadata {
        title: "  Träumerei ".to_owned(),
        composer: Some(" Robert Schumann".to_owned()),
        arranger: Some("   ".to_owned()),
        instrumentation: vec![" piano ".to_owned()],
        tags: vec!["romantic\n".to_owned()],
        ..metadata()
    };
    ScoreTester::with(())
        .given(vec![requested()])
        .when(ScoreCommand::ConfirmUpload {
            user_id,
            now,
            size_bytes,
            etag,
            sha256,
            metadata: untrimmed,
        })
        .then_expect_events(vec![confirmed()]);
}

#[test]
fn confirming_at_the_deadline_is_refused() {
    ScoreTester::with(())
        .given(vec![requested()])
        .when(confirm(owner(), deadline()))
        .then_expect_error(ScoreError::UploadExpired);
}

#[test]
fn confirming_an_expired_upload_is_refused() {
    ScoreTester::with(())
        .given(vec![requested(), ScoreEvent::UploadExpired {}])
        .when(confirm(owner(), before_deadline()))
        .then_expect_error(ScoreError::UploadExpired);
}

#[test]
fn confirming_twice_is_refused() {
    ScoreTester::with(())
        .given(vec![requested(), confirmed()])
        .when(confirm(owner(), before_deadline()))
        .then_expect_error(ScoreError::AlreadyConfirmed);
}

#[test]
fn confirming_an_upload_that_ended_answers_not_found() {
    for end in [
        ScoreEvent::UploadCancelled {},
        ScoreEvent::UploadRejected {
            reason: "not a PDF".to_owned(),
        },
    ] {
        ScoreTester::with(())
            .given(vec![requested(), end])
            .when(confirm(owner(), before_deadline()))
            .then_expect_error(ScoreError::NotFound);
    }
    ScoreTester::with(())
        .given(vec![requested(), confirmed(), deleted()])
        .when(confirm(owner(), before_deadline()))
        .then_expect_error(ScoreError::NotFound);
}

#[test]
fn confirming_a_never_requested_upload_answers_not_found() {
    ScoreTester::with(())
        .given_no_previous_events()
        .when(confirm(owner(), before_deadline()))
        .then_expect_error(ScoreError::NotFound);
}

#[test]
fn confirming_another_users_upload_answers_not_found() {
    ScoreTester::with(())
        .given(vec![requested()])
        .when(confirm(stranger(), before_deadline()))
        .then_expect_error(ScoreError::NotFound);
}

#[test]
fn confirming_with_a_size_other_than_declared_is_refused() {
    let ScoreCommand::ConfirmUpload {
        user_id,
        now,
        etag,
        sha256,
        metadata,
        ..
    } = confirm(owner(), before_deadline())
    else {
        unreachable!()
    };
    ScoreTester::with(())
        .given(vec![requested()])
        .when(ScoreCommand::ConfirmUpload {
            user_id,
            now,
            size_bytes: Bytes(1_999_999),
            etag,
            sha256,
            metadata,
        })
        .then_expect_error(ScoreError::SizeMismatch {
            declared: Bytes(2_000_000),
            actual: Bytes(1_999_999),
        });
}

#[test]
fn confirming_with_a_sha256_other_than_declared_is_refused() {
    let other = "0".repeat(64);
    let ScoreCommand::ConfirmUpload {
        user_id,
        now,
        size_bytes,
        etag,
        metadata,
        ..
    } = confirm(owner(), before_deadline())
    else {
        unreachable!()
    };
    ScoreTester::with(())
        .given(vec![requested()])
        .when(ScoreCommand::ConfirmUpload {
            user_id,
            now,
            size_bytes,
            etag,
            sha256: Some(other.clone()),
            metadata,
        })
        .then_expect_error(ScoreError::ChecksumMismatch {
            declared: SHA.to_owned(),
            actual: other,
        });
}

#[test]
fn confirming_with_invalid_metadata_reports_every_bad_field() {
    let ScoreCommand::ConfirmUpload {
        user_id,
        now,
        size_bytes,
        etag,
        sha256,
        ..
    } = confirm(owner(), before_deadline())
    else {
        unreachable!()
    };
    let mut expected = FieldErrors::new();
    expected.add("rating", "must be between 1 and 5");
    expected.add("title", "must not be empty");
    ScoreTester::with(())
        .given(vec![requested()])
        .when(ScoreCommand::ConfirmUpload {
            user_id,
            now,
            size_bytes,
            etag,
            sha256,
            metadata: ScoreMetadata {
                title: "   ".to_owned(),
                rating: Some(6),
                ..metadata()
            },
        })
        .then_expect_error(ScoreError::InvalidMetadata(expected));
}

// --- RejectUpload ----------------------------------------------------------------------

#[test]
fn rejecting_a_pending_upload_ends_it() {
    ScoreTester::with(())
        .given(vec![requested()])
        .when(ScoreCommand::RejectUpload {
            reason: "not a PDF".to_owned(),
        })
        .then_expect_events(vec![ScoreEvent::UploadRejected {
            reason: "not a PDF".to_owned(),
        }]);
}

#[test]
fn rejecting_a_rejected_upload_changes_nothing() {
    ScoreTester::with(())
        .given(vec![
            requested(),
            ScoreEvent::UploadRejected {
                reason: "not a PDF".to_owned(),
            },
        ])
        .when(ScoreCommand::RejectUpload {
            reason: "not a PDF".to_owned(),
        })
        .then_expect_events(vec![]);
}

#[test]
fn rejecting_an_upload_that_is_not_pending_is_refused() {
    for history in [
        vec![requested(), confirmed()],
        vec![requested(), ScoreEvent::UploadCancelled {}],
        vec![requested(), ScoreEvent::UploadExpired {}],
    ] {
        ScoreTester::with(())
            .given(history)
            .when(ScoreCommand::RejectUpload {
                reason: "not a PDF".to_owned(),
            })
            .then_expect_error(ScoreError::NotPending);
    }
}

#[test]
fn rejecting_a_never_requested_upload_answers_not_found() {
    ScoreTester::with(())
        .given_no_previous_events()
        .when(ScoreCommand::RejectUpload {
            reason: "not a PDF".to_owned(),
        })
        .then_expect_error(ScoreError::NotFound);
}

// --- CancelUpload ----------------------------------------------------------------------

#[test]
fn cancelling_a_pending_upload_ends_it() {
    ScoreTester::with(())
        .given(vec![requested()])
        .when(ScoreCommand::CancelUpload { user_id: owner() })
        .then_expect_events(vec![ScoreEvent::UploadCancelled {}]);
}

#[test]
fn cancelling_an_upload_that_already_ended_unconfirmed_changes_nothing() {
    for end in [
        ScoreEvent::UploadCancelled {},
        ScoreEvent::UploadExpired {},
        ScoreEvent::UploadRejected {
            reason: "not a PDF".to_owned(),
        },
    ] {
        ScoreTester::with(())
            .given(vec![requested(), end])
            .when(ScoreCommand::CancelUpload { user_id: owner() })
            .then_expect_events(vec![]);
    }
}

#[test]
fn cancelling_a_confirmed_upload_is_refused() {
    ScoreTester::with(())
        .given(vec![requested(), confirmed()])
        .when(ScoreCommand::CancelUpload { user_id: owner() })
        .then_expect_error(ScoreError::AlreadyConfirmed);
}

#[test]
fn cancelling_a_deleted_score_answers_not_found() {
    ScoreTester::with(())
        .given(vec![requested(), confirmed(), deleted()])
        .when(ScoreCommand::CancelUpload { user_id: owner() })
        .then_expect_error(ScoreError::NotFound);
}

#[test]
fn cancelling_another_users_upload_answers_not_found() {
    ScoreTester::with(())
        .given(vec![requested()])
        .when(ScoreCommand::CancelUpload {
            user_id: stranger(),
        })
        .then_expect_error(ScoreError::NotFound);
}

// --- ExpireUpload ----------------------------------------------------------------------

#[test]
fn expiring_a_pending_upload_at_its_deadline_ends_it() {
    ScoreTester::with(())
        .given(vec![requested()])
        .when(ScoreCommand::ExpireUpload { now: deadline() })
        .then_expect_events(vec![ScoreEvent::UploadExpired {}]);
}

#[test]
fn expiring_before_the_deadline_is_refused() {
    ScoreTester::with(())
        .given(vec![requested()])
        .when(ScoreCommand::ExpireUpload {
            now: deadline() - Duration::seconds(1),
        })
        .then_expect_error(ScoreError::NotYetExpired);
}

#[test]
fn expiring_an_upload_that_is_not_pending_changes_nothing() {
    for history in [
        vec![requested(), confirmed()],
        vec![requested(), ScoreEvent::UploadExpired {}],
        vec![requested(), ScoreEvent::UploadCancelled {}],
        vec![
            requested(),
            ScoreEvent::UploadRejected {
                reason: "not a PDF".to_owned(),
            },
        ],
        vec![requested(), confirmed(), deleted()],
    ] {
        ScoreTester::with(())
            .given(history)
            .when(ScoreCommand::ExpireUpload {
                now: deadline() + Duration::hours(1),
            })
            .then_expect_events(vec![]);
    }
}

#[test]
fn expiring_a_never_requested_upload_changes_nothing() {
    ScoreTester::with(())
        .given_no_previous_events()
        .when(ScoreCommand::ExpireUpload { now: deadline() })
        .then_expect_events(vec![]);
}

// --- UpdateScoreMetadata ---------------------------------------------------------------

#[test]
fn updating_metadata_records_the_patch() {
    let patch = ScoreMetadataPatch {
        title: Some("Träumerei, Op. 15 No. 7".to_owned()),
        tags: Some(vec!["romantic".to_owned(), "encore".to_owned()]),
        ..ScoreMetadataPatch::default()
    };
    ScoreTester::with(())
        .given(vec![requested(), confirmed()])
        .when(update(patch.clone()))
        .then_expect_events(vec![ScoreEvent::ScoreMetadataUpdated {
            patch,
            filled_from: None,
        }]);
}

#[test]
fn clearing_an_optional_field_records_a_null() {
    let patch = ScoreMetadataPatch {
        composer: Some(None),
        rating: Some(None),
        ..ScoreMetadataPatch::default()
    };
    ScoreTester::with(())
        .given(vec![requested(), confirmed()])
        .when(update(patch.clone()))
        .then_expect_events(vec![ScoreEvent::ScoreMetadataUpdated {
            patch,
            filled_from: None,
        }]);
}

#[test]
fn an_empty_patch_changes_nothing() {
    ScoreTester::with(())
        .given(vec![requested(), confirmed()])
        .when(update(ScoreMetadataPatch::default()))
        .then_expect_events(vec![]);
}

#[test]
fn a_patch_repeating_the_current_values_changes_nothing() {
    ScoreTester::with(())
        .given(vec![requested(), confirmed()])
        .when(update(ScoreMetadataPatch {
            title: Some(" Träumerei ".to_owned()),
            rating: Some(Some(5)),
            ..ScoreMetadataPatch::default()
        }))
        .then_expect_events(vec![]);
}

#[test]
fn a_patch_is_recorded_with_only_the_fields_that_change() {
    ScoreTester::with(())
        .given(vec![requested(), confirmed()])
        .when(update(ScoreMetadataPatch {
            title: Some("Träumerei".to_owned()),
            genre: Some(Some("  Romantic ".to_owned())),
            ..ScoreMetadataPatch::default()
        }))
        .then_expect_events(vec![ScoreEvent::ScoreMetadataUpdated {
            patch: ScoreMetadataPatch {
                genre: Some(Some("Romantic".to_owned())),
                ..ScoreMetadataPatch::default()
            },
            filled_from: None,
        }]);
}

#[test]
fn an_invalid_patch_is_refused_with_its_fields() {
    let mut expected = FieldErrors::new();
    expected.add("difficulty", "must be between 1 and 3");
    expected.add("duration_seconds", "must be at most 86400 seconds");
    ScoreTester::with(())
        .given(vec![requested(), confirmed()])
        .when(update(ScoreMetadataPatch {
            difficulty: Some(Some(4)),
            duration_seconds: Some(Some(86_401)),
            ..ScoreMetadataPatch::default()
        }))
        .then_expect_error(ScoreError::InvalidMetadata(expected));
}

#[test]
fn updating_a_score_that_is_not_live_answers_not_found() {
    for history in [
        vec![],
        vec![requested()],
        vec![requested(), confirmed(), deleted()],
    ] {
        ScoreTester::with(())
            .given(history)
            .when(update(ScoreMetadataPatch {
                rating: Some(Some(3)),
                ..ScoreMetadataPatch::default()
            }))
            .then_expect_error(ScoreError::NotFound);
    }
}

#[test]
fn updating_another_users_score_answers_not_found() {
    ScoreTester::with(())
        .given(vec![requested(), confirmed()])
        .when(ScoreCommand::UpdateScoreMetadata {
            user_id: stranger(),
            patch: ScoreMetadataPatch {
                rating: Some(Some(3)),
                ..ScoreMetadataPatch::default()
            },
        })
        .then_expect_error(ScoreError::NotFound);
}

// --- RecordFileHash --------------------------------------------------------------------

const OTHER_SHA: &str = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752";

/// Confirmed before confirmations hashed: the declared hash was kept, never checked.
fn confirmed_unhashed() -> ScoreEvent {
    ScoreEvent::UploadConfirmed {
        size_bytes: Bytes(2_000_000),
        etag: "\"etag-1\"".to_owned(),
        sha256: None,
        metadata: metadata(),
    }
}

#[test]
fn the_hash_of_the_bytes_replaces_an_unchecked_declared_one() {
    ScoreTester::with(())
        .given(vec![requested(), confirmed_unhashed()])
        .when(ScoreCommand::RecordFileHash {
            sha256: OTHER_SHA.to_owned(),
        })
        .then_expect_events(vec![ScoreEvent::FileHashed {
            sha256: OTHER_SHA.to_owned(),
        }]);
}

#[test]
fn recording_the_hash_the_score_has_changes_nothing() {
    ScoreTester::with(())
        .given(vec![requested(), confirmed_unhashed()])
        .when(ScoreCommand::RecordFileHash {
            sha256: SHA.to_owned(),
        })
        .then_expect_events(vec![]);
}

#[test]
fn a_recorded_hash_is_the_files_hash() {
    let mut score = Score::default();
    for event in [
        requested(),
        confirmed_unhashed(),
        ScoreEvent::FileHashed {
            sha256: OTHER_SHA.to_owned(),
        },
    ] {
        score.apply(event);
    }
    assert_eq!(score.sha256(), Some(OTHER_SHA));
}

#[test]
fn a_hash_that_is_not_lowercase_hex_is_refused() {
    let mut errors = FieldErrors::new();
    errors.add("sha256", "must be 64 lowercase hexadecimal characters");
    ScoreTester::with(())
        .given(vec![requested(), confirmed_unhashed()])
        .when(ScoreCommand::RecordFileHash {
            sha256: OTHER_SHA.to_uppercase(),
        })
        .then_expect_error(ScoreError::InvalidProcessingResult(errors));
}

#[test]
fn recording_a_hash_on_a_deleted_score_changes_nothing() {
    ScoreTester::with(())
        .given(vec![requested(), confirmed_unhashed(), deleted()])
        .when(ScoreCommand::RecordFileHash {
            sha256: OTHER_SHA.to_owned(),
        })
        .then_expect_events(vec![]);
}

// --- RecordPdfInfo ---------------------------------------------------------------------

#[test]
fn recording_pdf_info_attaches_it_to_the_score() {
    ScoreTester::with(())
        .given(vec![requested(), confirmed()])
        .when(ScoreCommand::RecordPdfInfo { info: pdf_info() })
        .then_expect_events(vec![ScoreEvent::PdfInfoExtracted { info: pdf_info() }]);
}

#[test]
fn recording_the_same_pdf_info_again_changes_nothing() {
    ScoreTester::with(())
        .given(vec![
            requested(),
            confirmed(),
            ScoreEvent::PdfInfoExtracted { info: pdf_info() },
        ])
        .when(ScoreCommand::RecordPdfInfo { info: pdf_info() })
        .then_expect_events(vec![]);
}

#[test]
fn recording_pdf_info_on_a_deleted_score_changes_nothing() {
    ScoreTester::with(())
        .given(vec![requested(), confirmed(), deleted()])
        .when(ScoreCommand::RecordPdfInfo { info: pdf_info() })
        .then_expect_events(vec![]);
}

#[test]
fn recording_pdf_info_on_an_unconfirmed_upload_is_refused() {
    ScoreTester::with(())
        .given(vec![requested()])
        .when(ScoreCommand::RecordPdfInfo { info: pdf_info() })
        .then_expect_error(ScoreError::NotConfirmed);
}

#[test]
fn recording_pdf_info_on_an_unknown_score_answers_not_found() {
    ScoreTester::with(())
        .given_no_previous_events()
        .when(ScoreCommand::RecordPdfInfo { info: pdf_info() })
        .then_expect_error(ScoreError::NotFound);
}

#[test]
fn recording_impossible_pdf_info_is_refused() {
    let mut expected = FieldErrors::new();
    expected.add("page_count", "must be at least 1");
    expected.add("page_width_pt", "must be a positive number");
    ScoreTester::with(())
        .given(vec![requested(), confirmed()])
        .when(ScoreCommand::RecordPdfInfo {
            info: PdfInfo {
                page_count: 0,
                page_width_pt: f64::NAN,
                ..pdf_info()
            },
        })
        .then_expect_error(ScoreError::InvalidProcessingResult(expected));
}

// --- RecordThumbnail -------------------------------------------------------------------

#[test]
fn recording_a_thumbnail_attaches_it_to_the_score() {
    ScoreTester::with(())
        .given(vec![requested(), confirmed()])
        .when(record_thumbnail())
        .then_expect_events(vec![thumbnail_generated()]);
}

#[test]
fn recording_the_same_thumbnail_again_changes_nothing() {
    ScoreTester::with(())
        .given(vec![requested(), confirmed(), thumbnail_generated()])
        .when(record_thumbnail())
        .then_expect_events(vec![]);
}

#[test]
fn recording_a_thumbnail_on_a_deleted_score_changes_nothing() {
    ScoreTester::with(())
        .given(vec![requested(), confirmed(), deleted()])
        .when(record_thumbnail())
        .then_expect_events(vec![]);
}

#[test]
fn recording_a_thumbnail_on_an_unconfirmed_upload_is_refused() {
    ScoreTester::with(())
        .given(vec![requested(), ScoreEvent::UploadCancelled {}])
        .when(record_thumbnail())
        .then_expect_error(ScoreError::NotConfirmed);
}

#[test]
fn recording_an_empty_thumbnail_is_refused() {
    let mut expected = FieldErrors::new();
    expected.add("object_key", "must not be empty");
    expected.add("width", "must be at least 1");
    ScoreTester::with(())
        .given(vec![requested(), confirmed()])
        .when(ScoreCommand::RecordThumbnail {
            object_key: String::new(),
            width: 0,
            height: 424,
        })
        .then_expect_error(ScoreError::InvalidProcessingResult(expected));
}

// --- RecordProcessingFailure -----------------------------------------------------------

#[test]
fn recording_a_processing_failure_attaches_it_to_the_score() {
    ScoreTester::with(())
        .given(vec![requested(), confirmed()])
        .when(failure(
            ProcessingStage::Thumbnail,
            "page 1 could not be rendered",
        ))
        .then_expect_events(vec![failed(
            ProcessingStage::Thumbnail,
            "page 1 could not be rendered",
        )]);
}

#[test]
fn recording_the_same_failure_again_changes_nothing() {
    ScoreTester::with(())
        .given(vec![
            requested(),
            confirmed(),
            failed(ProcessingStage::PdfInfo, "the PDF is locked by a password"),
        ])
        .when(failure(
            ProcessingStage::PdfInfo,
            "the PDF is locked by a password",
        ))
        .then_expect_events(vec![]);
}

#[test]
fn a_failure_after_the_step_succeeded_changes_nothing() {
    ScoreTester::with(())
        .given(vec![requested(), confirmed(), thumbnail_generated()])
        .when(failure(ProcessingStage::Thumbnail, "timed out"))
        .then_expect_events(vec![]);
}

#[test]
fn recording_a_failure_on_a_deleted_score_changes_nothing() {
    ScoreTester::with(())
        .given(vec![requested(), confirmed(), deleted()])
        .when(failure(ProcessingStage::PdfInfo, "unreadable"))
        .then_expect_events(vec![]);
}

#[test]
fn recording_a_failure_on_an_unconfirmed_upload_is_refused() {
    ScoreTester::with(())
        .given(vec![requested()])
        .when(failure(ProcessingStage::PdfInfo, "unreadable"))
        .then_expect_error(ScoreError::NotConfirmed);
}

// --- DeleteScore -----------------------------------------------------------------------

#[test]
fn deleting_a_score_records_the_bytes_it_held() {
    ScoreTester::with(())
        .given(vec![requested(), confirmed()])
        .when(ScoreCommand::DeleteScore { user_id: owner() })
        .then_expect_events(vec![deleted()]);
}

#[test]
fn deleting_a_deleted_score_answers_not_found() {
    ScoreTester::with(())
        .given(vec![requested(), confirmed(), deleted()])
        .when(ScoreCommand::DeleteScore { user_id: owner() })
        .then_expect_error(ScoreError::NotFound);
}

#[test]
fn deleting_an_unconfirmed_upload_answers_not_found() {
    ScoreTester::with(())
        .given(vec![requested()])
        .when(ScoreCommand::DeleteScore { user_id: owner() })
        .then_expect_error(ScoreError::NotFound);
}

#[test]
fn deleting_another_users_score_answers_not_found() {
    ScoreTester::with(())
        .given(vec![requested(), confirmed()])
        .when(ScoreCommand::DeleteScore {
            user_id: stranger(),
        })
        .then_expect_error(ScoreError::NotFound);
}

// --- State -----------------------------------------------------------------------------

#[test]
fn processing_is_ready_once_pdf_info_and_thumbnail_are_both_present() {
    let mut score = fold(vec![requested(), confirmed()]);
    assert_eq!(score.processing_status(), ProcessingStatus::Pending);
    score.apply(failed(ProcessingStage::Thumbnail, "timed out"));
    assert_eq!(score.processing_status(), ProcessingStatus::Failed);
    assert_eq!(
        score.processing_failure(ProcessingStage::Thumbnail),
        Some("timed out")
    );
    score.apply(ScoreEvent::PdfInfoExtracted { info: pdf_info() });
    assert_eq!(score.processing_status(), ProcessingStatus::Failed);
    score.apply(thumbnail_generated());
    assert_eq!(score.processing_status(), ProcessingStatus::Ready);
    assert!(score.processing_failures().is_empty());
}

#[test]
fn the_score_exposes_its_file_metadata_and_objects() {
    let score = fold(vec![
        requested(),
        confirmed(),
        ScoreEvent::ScoreMetadataUpdated {
            patch: ScoreMetadataPatch {
                composer: Some(None),
                ..ScoreMetadataPatch::default()
            },
            filled_from: None,
        },
        ScoreEvent::PdfInfoExtracted { info: pdf_info() },
        thumbnail_generated(),
    ]);
    assert_eq!(score.upload_id(), Some(UploadId(Uuid::from_u128(10))));
    assert_eq!(score.owner(), Some(owner()));
    assert_eq!(score.status(), Some(ScoreStatus::Confirmed));
    assert_eq!(score.size_bytes(), Some(Bytes(2_000_000)));
    assert_eq!(score.sha256(), Some(SHA));
    assert_eq!(score.etag(), Some("\"etag-1\""));
    assert_eq!(score.expires_at(), Some(deadline()));
    assert_eq!(
        score.file().map(|file| file.filename.as_str()),
        Some("Träumerei.pdf")
    );
    assert_eq!(
        score.object_keys(),
        vec!["scores/10.pdf", "thumbnails/10.png"]
    );
    assert_eq!(score.metadata().unwrap().composer, None);
    assert_eq!(score.metadata().unwrap().title, "Träumerei");
    assert_eq!(score.pdf_info(), Some(&pdf_info()));
    assert_eq!(score.thumbnail().map(|t| t.width), Some(300));
}

#[test]
fn a_rejected_upload_remembers_why() {
    let score = fold(vec![
        requested(),
        ScoreEvent::UploadRejected {
            reason: "not a PDF".to_owned(),
        },
    ]);
    assert_eq!(score.status(), Some(ScoreStatus::Rejected));
    assert_eq!(score.rejection_reason(), Some("not a PDF"));
}

#[test]
fn the_snapshot_round_trips_through_json() {
    let score = fold(vec![
        requested(),
        confirmed(),
        ScoreEvent::PdfInfoExtracted { info: pdf_info() },
        failed(ProcessingStage::Thumbnail, "timed out"),
    ]);
    let json = serde_json::to_string(&score).unwrap();
    assert_eq!(serde_json::from_str::<Score>(&json).unwrap(), score);
}

// --- Metadata rules --------------------------------------------------------------------

#[test]
fn a_title_of_200_characters_in_any_script_is_valid_and_201_is_not() {
    let fits = ScoreMetadata {
        title: "아".repeat(MAX_TITLE_CHARS),
        ..metadata()
    };
    assert_eq!(fits.validate(), Ok(()));
    let too_long = ScoreMetadata {
        title: "아".repeat(MAX_TITLE_CHARS + 1),
        ..metadata()
    };
    assert!(too_long.validate().unwrap_err().get("title").is_some());
}

#[test]
fn tags_and_instruments_are_limited_in_number_and_length() {
    let fits = ScoreMetadata {
        tags: vec!["t".repeat(MAX_LIST_ENTRY_CHARS); MAX_LIST_ENTRIES],
        instrumentation: vec!["violin".to_owned(); MAX_LIST_ENTRIES],
        ..metadata()
    };
    assert_eq!(fits.validate(), Ok(()));
    let errors = ScoreMetadata {
        tags: vec!["jazz".to_owned(); MAX_LIST_ENTRIES + 1],
        instrumentation: vec!["x".repeat(MAX_LIST_ENTRY_CHARS + 1), " ".to_owned()],
        ..metadata()
    }
    .validate()
    .unwrap_err();
    assert_eq!(
        errors.get("tags"),
        Some(&["must have at most 50 entries".to_owned()][..])
    );
    assert_eq!(
        errors.get("instrumentation"),
        Some(&["each entry must be between 1 and 50 characters".to_owned()][..])
    );
}

#[test]
fn every_text_field_is_limited_in_length() {
    let long = Some("x".repeat(MAX_TEXT_CHARS + 1));
    let errors = ScoreMetadata {
        composer: long.clone(),
        arranger: long.clone(),
        genre: long.clone(),
        key: long.clone(),
        reference: long,
        notes: Some("n".repeat(MAX_NOTES_CHARS + 1)),
        difficulty: Some(0),
        ..metadata()
    }
    .validate()
    .unwrap_err();
    let fields: Vec<&str> = errors.0.keys().map(String::as_str).collect();
    assert_eq!(
        fields,
        [
            "arranger",
            "composer",
            "difficulty",
            "genre",
            "key",
            "notes",
            "reference"
        ]
    );
    let fits = ScoreMetadata {
        notes: Some("n".repeat(MAX_NOTES_CHARS)),
        duration_seconds: Some(MAX_DURATION_SECONDS),
        ..metadata()
    };
    assert_eq!(fits.validate(), Ok(()));
}

#[test]
fn a_patch_tells_an_absent_field_from_a_null_one() {
    let patch: ScoreMetadataPatch =
        serde_json::from_str(r#"{"composer": null, "rating": 4}"#).unwrap();
    assert_eq!(patch.composer, Some(None));
    assert_eq!(patch.rating, Some(Some(4)));
    assert_eq!(patch.arranger, None);
    assert_eq!(
        serde_json::to_value(&patch).unwrap(),
        serde_json::json!({"composer": null, "rating": 4})
    );
}

fn bookmark_id() -> BookmarkId {
    BookmarkId(Uuid::from_u128(30))
}

fn bookmark(start_page: u32, end_page: u32) -> Bookmark {
    Bookmark {
        title: "Autumn Leaves".to_owned(),
        composer: Some("Kosma".to_owned()),
        start_page,
        end_page,
        ..Bookmark::default()
    }
}

fn add_bookmark(user_id: UserId, bookmark: Bookmark) -> ScoreCommand {
    ScoreCommand::AddBookmark {
        user_id,
        bookmark_id: bookmark_id(),
        bookmark,
    }
}

fn bookmark_added(bookmark: Bookmark) -> ScoreEvent {
    ScoreEvent::BookmarkAdded {
        bookmark_id: bookmark_id(),
        bookmark,
    }
}

#[test]
fn a_bookmark_is_added_trimmed_to_a_live_score() {
    let untrimmed = Bookmark {
        title: "  Autumn Leaves ".to_owned(),
        composer: Some(" Kosma ".to_owned()),
        key: Some("  ".to_owned()),
        ..bookmark(1, 2)
    };
    ScoreTester::with(())
        .given(vec![requested(), confirmed()])
        .when(add_bookmark(owner(), untrimmed))
        .then_expect_events(vec![bookmark_added(bookmark(1, 2))]);
}

#[test]
fn a_bookmark_needs_a_live_score_of_the_caller() {
    ScoreTester::with(())
        .given(vec![requested(), confirmed()])
        .when(add_bookmark(stranger(), bookmark(1, 2)))
        .then_expect_error(ScoreError::NotFound);
    ScoreTester::with(())
        .given(vec![requested()])
        .when(add_bookmark(owner(), bookmark(1, 2)))
        .then_expect_error(ScoreError::NotFound);
    ScoreTester::with(())
        .given(vec![requested(), confirmed(), deleted()])
        .when(add_bookmark(owner(), bookmark(1, 2)))
        .then_expect_error(ScoreError::NotFound);
}

#[test]
fn bookmark_pages_are_checked_against_the_page_count_once_known() {
    // Unknown page count: any plausible page.
    ScoreTester::with(())
        .given(vec![requested(), confirmed()])
        .when(add_bookmark(owner(), bookmark(40, 41)))
        .then_expect_events(vec![bookmark_added(bookmark(40, 41))]);
    // Known: two pages.
    let mut errors = FieldErrors::new();
    errors.add("end_page", "must be a page of the file, 1 to 2");
    ScoreTester::with(())
        .given(vec![
            requested(),
            confirmed(),
            ScoreEvent::PdfInfoExtracted { info: pdf_info() },
        ])
        .when(add_bookmark(owner(), bookmark(2, 3)))
        .then_expect_error(ScoreError::InvalidBookmark(errors));
    let mut errors = FieldErrors::new();
    errors.add("title", "must not be empty");
    errors.add("start_page", "must be a page number from 1 to 100000");
    ScoreTester::with(())
        .given(vec![requested(), confirmed()])
        .when(add_bookmark(
            owner(),
            Bookmark {
                title: " ".to_owned(),
                ..bookmark(0, 3)
            },
        ))
        .then_expect_error(ScoreError::InvalidBookmark(errors));
    let mut errors = FieldErrors::new();
    errors.add("end_page", "must not be before start_page");
    ScoreTester::with(())
        .given(vec![requested(), confirmed()])
        .when(add_bookmark(owner(), bookmark(5, 3)))
        .then_expect_error(ScoreError::InvalidBookmark(errors));
}

#[test]
fn a_bookmark_made_before_the_page_count_stays_and_reports_that_it_does_not_fit() {
    let score = fold(vec![
        requested(),
        confirmed(),
        bookmark_added(bookmark(40, 41)),
        ScoreEvent::PdfInfoExtracted { info: pdf_info() },
    ]);
    let kept = &score.bookmarks()[&bookmark_id()];
    assert!(!kept.fits(score.page_count().unwrap()));
    // Editing it means fixing its pages.
    ScoreTester::with(())
        .given(vec![
            requested(),
            confirmed(),
            bookmark_added(bookmark(40, 41)),
            ScoreEvent::PdfInfoExtracted { info: pdf_info() },
        ])
        .when(ScoreCommand::UpdateBookmark {
            user_id: owner(),
            bookmark_id: bookmark_id(),
            patch: BookmarkPatch {
                start_page: Some(1),
                end_page: Some(2),
                ..BookmarkPatch::default()
            },
        })
        .then_expect_events(vec![ScoreEvent::BookmarkUpdated {
            bookmark_id: bookmark_id(),
            bookmark: bookmark(1, 2),
        }]);
}

#[test]
fn adding_the_same_bookmark_again_is_a_no_op_and_another_under_its_id_is_refused() {
    ScoreTester::with(())
        .given(vec![
            requested(),
            confirmed(),
            bookmark_added(bookmark(1, 2)),
        ])
        .when(add_bookmark(owner(), bookmark(1, 2)))
        .then_expect_events(vec![]);
    ScoreTester::with(())
        .given(vec![
            requested(),
            confirmed(),
            bookmark_added(bookmark(1, 2)),
        ])
        .when(add_bookmark(owner(), bookmark(1, 1)))
        .then_expect_error(ScoreError::BookmarkExists);
}

#[test]
fn a_bookmark_update_records_the_whole_bookmark_and_a_no_op_nothing() {
    let given = vec![requested(), confirmed(), bookmark_added(bookmark(1, 2))];
    ScoreTester::with(())
        .given(given.clone())
        .when(ScoreCommand::UpdateBookmark {
            user_id: owner(),
            bookmark_id: bookmark_id(),
            patch: BookmarkPatch {
                composer: Some(None),
                tags: Some(vec![" jazz ".to_owned()]),
                ..BookmarkPatch::default()
            },
        })
        .then_expect_events(vec![ScoreEvent::BookmarkUpdated {
            bookmark_id: bookmark_id(),
            bookmark: Bookmark {
                composer: None,
                tags: vec!["jazz".to_owned()],
                ..bookmark(1, 2)
            },
        }]);
    ScoreTester::with(())
        .given(given.clone())
        .when(ScoreCommand::UpdateBookmark {
            user_id: owner(),
            bookmark_id: bookmark_id(),
            patch: BookmarkPatch {
                title: Some("Autumn Leaves".to_owned()),
                ..BookmarkPatch::default()
            },
        })
        .then_expect_events(vec![]);
    ScoreTester::with(())
        .given(given)
        .when(ScoreCommand::UpdateBookmark {
            user_id: owner(),
            bookmark_id: BookmarkId(Uuid::from_u128(31)),
            patch: BookmarkPatch::default(),
        })
        .then_expect_error(ScoreError::BookmarkNotFound);
}

#[test]
fn a_bookmark_is_removed_once() {
    ScoreTester::with(())
        .given(vec![
            requested(),
            confirmed(),
            bookmark_added(bookmark(1, 2)),
        ])
        .when(ScoreCommand::RemoveBookmark {
            user_id: owner(),
            bookmark_id: bookmark_id(),
        })
        .then_expect_events(vec![ScoreEvent::BookmarkRemoved {
            bookmark_id: bookmark_id(),
        }]);
    ScoreTester::with(())
        .given(vec![
            requested(),
            confirmed(),
            bookmark_added(bookmark(1, 2)),
            ScoreEvent::BookmarkRemoved {
                bookmark_id: bookmark_id(),
            },
        ])
        .when(ScoreCommand::RemoveBookmark {
            user_id: owner(),
            bookmark_id: bookmark_id(),
        })
        .then_expect_error(ScoreError::BookmarkNotFound);
    ScoreTester::with(())
        .given(vec![
            requested(),
            confirmed(),
            bookmark_added(bookmark(1, 2)),
        ])
        .when(ScoreCommand::RemoveBookmark {
            user_id: stranger(),
            bookmark_id: bookmark_id(),
        })
        .then_expect_error(ScoreError::NotFound);
}

#[test]
fn a_score_holds_a_bounded_number_of_bookmarks() {
    let mut given = vec![requested(), confirmed()];
    given.extend((0..MAX_BOOKMARKS).map(|n| ScoreEvent::BookmarkAdded {
        bookmark_id: BookmarkId(Uuid::from_u128(1_000 + n as u128)),
        bookmark: bookmark(1, 1),
    }));
    ScoreTester::with(())
        .given(given)
        .when(add_bookmark(owner(), bookmark(1, 2)))
        .then_expect_error(ScoreError::TooManyBookmarks);
}

// --- ImportBookmarks -------------------------------------------------------------------

fn row(line: u64, n: u128, bookmark: Bookmark) -> ImportedBookmark {
    ImportedBookmark {
        line,
        bookmark_id: BookmarkId(Uuid::from_u128(500 + n)),
        bookmark,
    }
}

fn import(rows: Vec<ImportedBookmark>) -> ScoreCommand {
    ScoreCommand::ImportBookmarks {
        user_id: owner(),
        bookmarks: rows,
    }
}

fn piece(title: &str, start_page: u32, end_page: u32) -> Bookmark {
    Bookmark {
        title: title.to_owned(),
        start_page,
        end_page,
        ..Bookmark::default()
    }
}

#[test]
fn an_index_is_imported_whole_in_file_order_trimmed() {
    ScoreTester::with(())
        .given(vec![requested(), confirmed()])
        .when(import(vec![
            row(2, 1, piece(" Solar ", 5, 6)),
            row(3, 2, piece("Autumn Leaves", 1, 2)),
        ]))
        .then_expect_events(vec![
            ScoreEvent::BookmarkAdded {
                bookmark_id: BookmarkId(Uuid::from_u128(501)),
                bookmark: piece("Solar", 5, 6),
            },
            ScoreEvent::BookmarkAdded {
                bookmark_id: BookmarkId(Uuid::from_u128(502)),
                bookmark: piece("Autumn Leaves", 1, 2),
            },
        ]);
}

#[test]
fn an_index_with_any_bad_row_is_refused_naming_every_bad_line() {
    let mut errors = FieldErrors::new();
    errors.add("line 3", "end_page: must be a page of the file, 1 to 2");
    errors.add("line 5", "end_page: must not be before start_page");
    errors.add("line 5", "title: must not be empty");
    ScoreTester::with(())
        .given(vec![
            requested(),
            confirmed(),
            ScoreEvent::PdfInfoExtracted { info: pdf_info() },
        ])
        .when(import(vec![
            row(2, 1, piece("Fine", 1, 2)),
            row(3, 2, piece("Too far", 2, 3)),
            row(5, 3, piece("  ", 2, 1)),
        ]))
        .then_expect_error(ScoreError::InvalidBookmark(errors));
}

#[test]
fn an_import_needs_a_live_score_of_the_caller() {
    ScoreTester::with(())
        .given(vec![requested(), confirmed()])
        .when(ScoreCommand::ImportBookmarks {
            user_id: stranger(),
            bookmarks: vec![row(2, 1, piece("Solar", 1, 1))],
        })
        .then_expect_error(ScoreError::NotFound);
    ScoreTester::with(())
        .given(vec![requested(), confirmed(), deleted()])
        .when(import(vec![row(2, 1, piece("Solar", 1, 1))]))
        .then_expect_error(ScoreError::NotFound);
}

#[test]
fn an_import_sent_again_changes_nothing_and_clashing_ids_are_refused() {
    let imported = ScoreEvent::BookmarkAdded {
        bookmark_id: BookmarkId(Uuid::from_u128(501)),
        bookmark: piece("Solar", 1, 1),
    };
    ScoreTester::with(())
        .given(vec![requested(), confirmed(), imported.clone()])
        .when(import(vec![row(2, 1, piece("Solar", 1, 1))]))
        .then_expect_events(vec![]);
    ScoreTester::with(())
        .given(vec![requested(), confirmed(), imported])
        .when(import(vec![
            row(2, 1, piece("Solar", 1, 1)),
            row(3, 2, piece("Nardis", 2, 2)),
        ]))
        .then_expect_error(ScoreError::BookmarkExists);
    ScoreTester::with(())
        .given(vec![requested(), confirmed()])
        .when(import(vec![
            row(2, 1, piece("Solar", 1, 1)),
            row(3, 1, piece("Nardis", 2, 2)),
        ]))
        .then_expect_error(ScoreError::BookmarkExists);
}

#[test]
fn an_import_may_not_take_a_score_past_its_bookmark_limit() {
    let mut given = vec![requested(), confirmed()];
    given.extend((0..MAX_BOOKMARKS - 1).map(|n| ScoreEvent::BookmarkAdded {
        bookmark_id: BookmarkId(Uuid::from_u128(10_000 + n as u128)),
        bookmark: bookmark(1, 1),
    }));
    ScoreTester::with(())
        .given(given.clone())
        .when(import(vec![
            row(2, 1, piece("Solar", 1, 1)),
            row(3, 2, piece("Nardis", 2, 2)),
        ]))
        .then_expect_error(ScoreError::TooManyBookmarks);
    ScoreTester::with(())
        .given(given)
        .when(import(vec![row(2, 1, piece("Solar", 1, 1))]))
        .then_expect_events(vec![ScoreEvent::BookmarkAdded {
            bookmark_id: BookmarkId(Uuid::from_u128(501)),
            bookmark: piece("Solar", 1, 1),
        }]);
}

// --- Suggestions from the PDF's metadata -------------------------------------------------

fn confirmed_with(metadata: ScoreMetadata) -> ScoreEvent {
    ScoreEvent::UploadConfirmed {
        size_bytes: Bytes(2_000_000),
        etag: "\"etag-1\"".to_owned(),
        sha256: Some(SHA.to_owned()),
        metadata,
    }
}

fn info_with(author: Option<&str>, keywords: Option<&str>, xmp: Option<PdfXmp>) -> PdfInfo {
    PdfInfo {
        author: author.map(str::to_owned),
        keywords: keywords.map(str::to_owned),
        xmp,
        ..pdf_info()
    }
}

fn bare() -> ScoreMetadata {
    ScoreMetadata {
        title: "Untitled".to_owned(),
        ..ScoreMetadata::default()
    }
}

#[test]
fn xmp_is_suggested_before_the_info_dictionary() {
    let xmp = PdfXmp {
        title: Some(" Autumn Leaves ".to_owned()),
        creators: vec!["Joseph Kosma".to_owned(), "Jacques Prévert".to_owned()],
        subjects: vec!["jazz".to_owned(), "Jazz".to_owned(), "  ".to_owned()],
    };
    let suggestions = info_with(Some("Scanner 3000"), Some("ignored"), Some(xmp)).suggestions();
    assert_eq!(
        suggestions.title.map(|s| (s.value, s.source)),
        Some(("Autumn Leaves".to_owned(), "XMP dc:title"))
    );
    assert_eq!(
        suggestions.composer.map(|s| (s.value, s.source)),
        Some(("Joseph Kosma, Jacques Prévert".to_owned(), "XMP dc:creator"))
    );
    assert_eq!(
        suggestions.tags.map(|s| (s.value, s.source)),
        Some((vec!["jazz".to_owned()], "XMP dc:subject"))
    );
    let info_only = info_with(Some("Kosma"), Some("jazz; ballad ,, "), None).suggestions();
    assert_eq!(
        info_only.title.map(|s| (s.value, s.source)),
        Some(("Kinderszenen".to_owned(), "Info Title"))
    );
    assert_eq!(
        info_only.tags.map(|s| s.value),
        Some(vec!["jazz".to_owned(), "ballad".to_owned()])
    );
    let too_long = info_with(Some(&"a".repeat(201)), None, None).suggestions();
    assert_eq!(too_long.composer, None, "only values the rules accept");
}

#[test]
fn the_pdf_fills_what_the_user_left_empty_saying_where_from() {
    let mut filled_from = std::collections::BTreeMap::new();
    filled_from.insert("composer".to_owned(), "Info Author".to_owned());
    filled_from.insert("tags".to_owned(), "Info Keywords".to_owned());
    let info = info_with(Some("Kosma"), Some("jazz, ballad"), None);
    ScoreTester::with(())
        .given(vec![requested(), confirmed_with(bare())])
        .when(ScoreCommand::RecordPdfInfo { info: info.clone() })
        .then_expect_events(vec![
            ScoreEvent::PdfInfoExtracted { info },
            ScoreEvent::ScoreMetadataUpdated {
                patch: ScoreMetadataPatch {
                    composer: Some(Some("Kosma".to_owned())),
                    tags: Some(vec!["jazz".to_owned(), "ballad".to_owned()]),
                    ..ScoreMetadataPatch::default()
                },
                filled_from: Some(filled_from),
            },
        ]);
}

#[test]
fn the_pdf_never_overwrites_what_the_user_typed_and_fills_once() {
    let info = info_with(Some("Kosma"), Some("jazz"), None);
    // Composer typed, tags left empty: only the tags are filled.
    let typed = ScoreMetadata {
        composer: Some("Me".to_owned()),
        ..bare()
    };
    let mut filled_from = std::collections::BTreeMap::new();
    filled_from.insert("tags".to_owned(), "Info Keywords".to_owned());
    ScoreTester::with(())
        .given(vec![requested(), confirmed_with(typed)])
        .when(ScoreCommand::RecordPdfInfo { info: info.clone() })
        .then_expect_events(vec![
            ScoreEvent::PdfInfoExtracted { info: info.clone() },
            ScoreEvent::ScoreMetadataUpdated {
                patch: ScoreMetadataPatch {
                    tags: Some(vec!["jazz".to_owned()]),
                    ..ScoreMetadataPatch::default()
                },
                filled_from: Some(filled_from),
            },
        ]);
    // Everything typed: the info alone.
    ScoreTester::with(())
        .given(vec![requested(), confirmed()])
        .when(ScoreCommand::RecordPdfInfo { info: info.clone() })
        .then_expect_events(vec![ScoreEvent::PdfInfoExtracted { info: info.clone() }]);
    // Info known already (a later reading): nothing is filled again.
    let later = PdfInfo {
        page_count: 3,
        ..info.clone()
    };
    ScoreTester::with(())
        .given(vec![
            requested(),
            confirmed_with(bare()),
            ScoreEvent::PdfInfoExtracted { info },
        ])
        .when(ScoreCommand::RecordPdfInfo {
            info: later.clone(),
        })
        .then_expect_events(vec![ScoreEvent::PdfInfoExtracted { info: later }]);
}
