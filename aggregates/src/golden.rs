//! Pins the event contract: every event's stored name and version, and the JSON shape
//! of one event per aggregate. Auditors and analysts read these; a failure here means a
//! stored stream or a query would break. Change an event by adding a version and an
//! upcaster, never by editing these lists.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::{Aggregate, DomainEvent};
use serde_json::json;
use uuid::Uuid;

use crate::*;

fn at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000, 0).unwrap()
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

/// Exhaustive on purpose (no `_` arm): a new variant stops this compiling until it is
/// added to the samples and the golden list below.
fn account_events() -> Vec<AccountEvent> {
    let samples = vec![
        AccountEvent::AccountRegistered {
            user_id: UserId(id(1)),
            email: Email::parse("clara@example.org").unwrap(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
            display_name: Some("Clara".to_owned()),
        },
        AccountEvent::PasswordChanged {
            password_hash: "$argon2id$v=19$second".to_owned(),
        },
        AccountEvent::RoleGranted {
            role: Role::Auditor,
        },
        AccountEvent::RoleRevoked {
            role: Role::Auditor,
        },
    ];
    for event in &samples {
        match event {
            AccountEvent::AccountRegistered { .. }
            | AccountEvent::PasswordChanged { .. }
            | AccountEvent::RoleGranted { .. }
            | AccountEvent::RoleRevoked { .. } => {}
        }
    }
    samples
}

fn session_events() -> Vec<SessionEvent> {
    let samples = vec![
        SessionEvent::SessionStarted {
            session_id: SessionId(id(2)),
            user_id: UserId(id(1)),
            refresh_token_id: id(3),
            expires_at: at(),
        },
        SessionEvent::RefreshTokenRotated {
            previous_token_id: id(3),
            next_token_id: id(4),
            expires_at: at(),
        },
        SessionEvent::SessionRevoked {
            reason: RevocationReason::RefreshReuse,
        },
    ];
    for event in &samples {
        match event {
            SessionEvent::SessionStarted { .. }
            | SessionEvent::RefreshTokenRotated { .. }
            | SessionEvent::SessionRevoked { .. } => {}
        }
    }
    samples
}

fn quota_events() -> Vec<QuotaEvent> {
    let samples = vec![
        QuotaEvent::QuotaLimitSet {
            limit: Bytes(1_073_741_824),
        },
        QuotaEvent::QuotaReserved {
            upload_id: UploadId(id(5)),
            bytes: Bytes(2_000_000),
            expires_at: at(),
        },
        QuotaEvent::QuotaConfirmed {
            upload_id: UploadId(id(5)),
            score_id: UploadId(id(5)),
            reserved_bytes: Bytes(2_000_000),
            actual_bytes: Bytes(2_000_000),
        },
        QuotaEvent::ReservationReleased {
            upload_id: UploadId(id(6)),
            bytes: Bytes(500),
            reason: ReleaseReason::Expired,
        },
        QuotaEvent::QuotaReleased {
            score_id: UploadId(id(5)),
            bytes: Bytes(2_000_000),
        },
    ];
    for event in &samples {
        match event {
            QuotaEvent::QuotaLimitSet { .. }
            | QuotaEvent::QuotaReserved { .. }
            | QuotaEvent::QuotaConfirmed { .. }
            | QuotaEvent::ReservationReleased { .. }
            | QuotaEvent::QuotaReleased { .. } => {}
        }
    }
    samples
}

fn golden_bookmark() -> Bookmark {
    Bookmark {
        title: "Autumn Leaves".to_owned(),
        composer: Some("Joseph Kosma".to_owned()),
        start_page: 47,
        end_page: 48,
        tags: vec!["ballad".to_owned()],
        key: Some("G minor".to_owned()),
        notes: None,
    }
}

#[test]
fn the_bookmark_added_payload_is_pinned() {
    assert_eq!(
        serde_json::to_value(ScoreEvent::BookmarkAdded {
            bookmark_id: BookmarkId(id(9)),
            bookmark: golden_bookmark(),
        })
        .unwrap(),
        json!({"BookmarkAdded": {
            "bookmark_id": "00000000-0000-0000-0000-000000000009",
            "bookmark": {
                "title": "Autumn Leaves",
                "composer": "Joseph Kosma",
                "start_page": 47,
                "end_page": 48,
                "tags": ["ballad"],
                "key": "G minor",
                "notes": null
            }
        }})
    );
}

fn golden_metadata() -> ScoreMetadata {
    ScoreMetadata {
        title: "아리랑".to_owned(),
        composer: Some("Traditional".to_owned()),
        arranger: None,
        genre: Some("Folk".to_owned()),
        key: Some("G major".to_owned()),
        instrumentation: vec!["piano".to_owned()],
        tags: vec!["korean".to_owned(), "encore".to_owned()],
        rating: Some(5),
        difficulty: Some(1),
        duration_seconds: Some(150),
        reference: None,
        notes: None,
    }
}

fn score_events() -> Vec<ScoreEvent> {
    let samples = vec![
        ScoreEvent::UploadRequested {
            upload_id: UploadId(id(5)),
            owner: UserId(id(1)),
            filename: "arirang.pdf".to_owned(),
            size_bytes: Bytes(2_000_000),
            mime_type: "application/pdf".to_owned(),
            sha256: None,
            object_key: "scores/5.pdf".to_owned(),
            expires_at: at(),
        },
        ScoreEvent::UploadConfirmed {
            size_bytes: Bytes(2_000_000),
            etag: "\"abc\"".to_owned(),
            sha256: None,
            metadata: golden_metadata(),
        },
        ScoreEvent::UploadRejected {
            reason: "not a PDF".to_owned(),
        },
        ScoreEvent::UploadCancelled {},
        ScoreEvent::UploadExpired {},
        ScoreEvent::ScoreMetadataUpdated {
            patch: ScoreMetadataPatch {
                rating: Some(None),
                ..ScoreMetadataPatch::default()
            },
            filled_from: None,
        },
        ScoreEvent::PdfInfoExtracted {
            info: PdfInfo {
                page_count: 3,
                page_width_pt: 595.0,
                page_height_pt: 842.0,
                ..PdfInfo::default()
            },
        },
        ScoreEvent::ThumbnailGenerated {
            object_key: "thumbnails/5.png".to_owned(),
            width: 300,
            height: 424,
        },
        ScoreEvent::FileHashed {
            sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".to_owned(),
        },
        ScoreEvent::ProcessingFailed {
            stage: ProcessingStage::Thumbnail,
            reason: "timed out".to_owned(),
        },
        ScoreEvent::ScoreDeleted {
            size_bytes: Bytes(2_000_000),
        },
        ScoreEvent::BookmarkAdded {
            bookmark_id: BookmarkId(id(9)),
            bookmark: golden_bookmark(),
        },
        ScoreEvent::BookmarkUpdated {
            bookmark_id: BookmarkId(id(9)),
            bookmark: Bookmark {
                end_page: 49,
                ..golden_bookmark()
            },
        },
        ScoreEvent::BookmarkRemoved {
            bookmark_id: BookmarkId(id(9)),
        },
    ];
    for event in &samples {
        match event {
            ScoreEvent::UploadRequested { .. }
            | ScoreEvent::UploadConfirmed { .. }
            | ScoreEvent::UploadRejected { .. }
            | ScoreEvent::UploadCancelled { .. }
            | ScoreEvent::UploadExpired { .. }
            | ScoreEvent::ScoreMetadataUpdated { .. }
            | ScoreEvent::PdfInfoExtracted { .. }
            | ScoreEvent::ThumbnailGenerated { .. }
            | ScoreEvent::FileHashed { .. }
            | ScoreEvent::ProcessingFailed { .. }
            | ScoreEvent::ScoreDeleted { .. }
            | ScoreEvent::BookmarkAdded { .. }
            | ScoreEvent::BookmarkUpdated { .. }
            | ScoreEvent::BookmarkRemoved { .. } => {}
        }
    }
    samples
}

fn setlist_events() -> Vec<SetlistEvent> {
    let samples = vec![
        SetlistEvent::SetlistCreated {
            setlist_id: SetlistId(id(7)),
            owner: UserId(id(1)),
            name: "Christmas concert".to_owned(),
            description: None,
            event_date: NaiveDate::from_ymd_opt(2025, 12, 24),
            notes: None,
        },
        SetlistEvent::SetlistDetailsUpdated {
            name: Some("Christmas Eve".to_owned()),
            description: None,
            event_date: None,
            notes: None,
        },
        SetlistEvent::SetlistItemAdded {
            item_id: SetlistItemId(id(8)),
            score_id: UploadId(id(5)),
            bookmark_id: None,
            pages: None,
            position: 0,
            note: Some("capo 2".to_owned()),
        },
        SetlistEvent::SetlistItemRemoved {
            item_id: SetlistItemId(id(8)),
            reason: ItemRemovalReason::ScoreDeleted,
        },
        SetlistEvent::SetlistItemsReordered {
            item_ids: vec![SetlistItemId(id(8))],
        },
        SetlistEvent::SetlistDeleted {},
    ];
    for event in &samples {
        match event {
            SetlistEvent::SetlistCreated { .. }
            | SetlistEvent::SetlistDetailsUpdated { .. }
            | SetlistEvent::SetlistItemAdded { .. }
            | SetlistEvent::SetlistItemRemoved { .. }
            | SetlistEvent::SetlistItemsReordered { .. }
            | SetlistEvent::SetlistDeleted { .. } => {}
        }
    }
    samples
}

fn pinned<A: Aggregate>(events: &[A::Event]) -> Vec<(String, String, String)> {
    events
        .iter()
        .map(|event| {
            (
                A::TYPE.to_owned(),
                event.event_type(),
                event.event_version(),
            )
        })
        .collect()
}

#[test]
fn every_event_name_and_version_is_pinned() {
    let mut actual = Vec::new();
    actual.extend(pinned::<Account>(&account_events()));
    actual.extend(pinned::<Session>(&session_events()));
    actual.extend(pinned::<Quota>(&quota_events()));
    actual.extend(pinned::<Score>(&score_events()));
    actual.extend(pinned::<Setlist>(&setlist_events()));

    let expected: Vec<(String, String, String)> = [
        ("Account", "AccountRegistered", "1.0"),
        ("Account", "PasswordChanged", "1.0"),
        ("Account", "RoleGranted", "1.0"),
        ("Account", "RoleRevoked", "1.0"),
        ("Session", "SessionStarted", "1.0"),
        ("Session", "RefreshTokenRotated", "1.0"),
        ("Session", "SessionRevoked", "1.0"),
        ("Quota", "QuotaLimitSet", "2.0"),
        ("Quota", "QuotaReserved", "1.0"),
        ("Quota", "QuotaConfirmed", "1.0"),
        ("Quota", "ReservationReleased", "1.0"),
        ("Quota", "QuotaReleased", "1.0"),
        ("Score", "UploadRequested", "1.0"),
        ("Score", "UploadConfirmed", "1.0"),
        ("Score", "UploadRejected", "1.0"),
        ("Score", "UploadCancelled", "1.0"),
        ("Score", "UploadExpired", "1.0"),
        ("Score", "ScoreMetadataUpdated", "1.1"),
        ("Score", "PdfInfoExtracted", "1.1"),
        ("Score", "ThumbnailGenerated", "1.0"),
        ("Score", "FileHashed", "1.0"),
        ("Score", "ProcessingFailed", "1.0"),
        ("Score", "ScoreDeleted", "1.0"),
        ("Score", "BookmarkAdded", "1.0"),
        ("Score", "BookmarkUpdated", "1.0"),
        ("Score", "BookmarkRemoved", "1.0"),
        ("Setlist", "SetlistCreated", "1.1"),
        ("Setlist", "SetlistDetailsUpdated", "1.1"),
        ("Setlist", "SetlistItemAdded", "1.1"),
        ("Setlist", "SetlistItemRemoved", "1.1"),
        ("Setlist", "SetlistItemsReordered", "1.0"),
        ("Setlist", "SetlistDeleted", "1.0"),
    ]
    .into_iter()
    .map(|(aggregate, event, version)| (aggregate.to_owned(), event.to_owned(), version.to_owned()))
    .collect();

    assert_eq!(actual, expected);
}

#[test]
fn the_serialized_variant_name_is_the_event_type() {
    fn check<E: DomainEvent>(events: &[E]) {
        for event in events {
            let json = serde_json::to_value(event).unwrap();
            let tag = json.as_object().and_then(|o| o.keys().next().cloned());
            assert_eq!(tag, Some(event.event_type()));
            assert_eq!(&serde_json::from_value::<E>(json).unwrap(), event);
        }
    }
    check(&account_events());
    check(&session_events());
    check(&quota_events());
    check(&score_events());
    check(&setlist_events());
}

#[test]
fn the_account_registered_payload_is_pinned() {
    assert_eq!(
        serde_json::to_value(&account_events()[0]).unwrap(),
        json!({"AccountRegistered": {
            "user_id": "00000000-0000-0000-0000-000000000001",
            "email": "clara@example.org",
            "password_hash": "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
            "display_name": "Clara"
        }})
    );
}

#[test]
fn the_refresh_token_rotated_payload_is_pinned() {
    assert_eq!(
        serde_json::to_value(&session_events()[1]).unwrap(),
        json!({"RefreshTokenRotated": {
            "previous_token_id": "00000000-0000-0000-0000-000000000003",
            "next_token_id": "00000000-0000-0000-0000-000000000004",
            "expires_at": "2025-06-15T15:06:40Z"
        }})
    );
}

#[test]
fn the_quota_payloads_are_pinned() {
    let events = quota_events();
    assert_eq!(
        serde_json::to_value(&events[0]).unwrap(),
        json!({"QuotaLimitSet": {"limit_bytes": 1_073_741_824}})
    );
    assert_eq!(
        serde_json::to_value(&events[1]).unwrap(),
        json!({"QuotaReserved": {
            "upload_id": "00000000-0000-0000-0000-000000000005",
            "bytes": 2_000_000,
            "expires_at": "2025-06-15T15:06:40Z"
        }})
    );
    assert_eq!(
        serde_json::to_value(&events[3]).unwrap(),
        json!({"ReservationReleased": {
            "upload_id": "00000000-0000-0000-0000-000000000006",
            "bytes": 500,
            "reason": "expired"
        }})
    );
}

#[test]
fn the_upload_confirmed_payload_is_pinned() {
    assert_eq!(
        serde_json::to_value(&score_events()[1]).unwrap(),
        json!({"UploadConfirmed": {
            "size_bytes": 2_000_000,
            "etag": "\"abc\"",
            "sha256": null,
            "metadata": {
                "title": "아리랑",
                "composer": "Traditional",
                "arranger": null,
                "genre": "Folk",
                "key": "G major",
                "instrumentation": ["piano"],
                "tags": ["korean", "encore"],
                "rating": 5,
                "difficulty": 1,
                "duration_seconds": 150,
                "reference": null,
                "notes": null
            }
        }})
    );
}

#[test]
fn the_setlist_item_added_payload_is_pinned() {
    assert_eq!(
        serde_json::to_value(&setlist_events()[2]).unwrap(),
        json!({"SetlistItemAdded": {
            "item_id": "00000000-0000-0000-0000-000000000008",
            "score_id": "00000000-0000-0000-0000-000000000005",
            "position": 0,
            "note": "capo 2"
        }})
    );
}

/// Score 1.1: metadata filled from the PDF says where each value came from, and the PDF
/// info carries the XMP facts; both absent otherwise, so 1.0 payloads read unchanged.
#[test]
fn the_score_1_1_payloads_are_pinned() {
    let mut filled_from = std::collections::BTreeMap::new();
    filled_from.insert("composer".to_owned(), "XMP dc:creator".to_owned());
    assert_eq!(
        serde_json::to_value(ScoreEvent::ScoreMetadataUpdated {
            patch: ScoreMetadataPatch {
                composer: Some(Some("Joseph Kosma".to_owned())),
                ..ScoreMetadataPatch::default()
            },
            filled_from: Some(filled_from),
        })
        .unwrap(),
        json!({"ScoreMetadataUpdated": {
            "patch": {"composer": "Joseph Kosma"},
            "filled_from": {"composer": "XMP dc:creator"}
        }})
    );
    let info = PdfInfo {
        page_count: 1,
        page_width_pt: 595.0,
        page_height_pt: 842.0,
        xmp: Some(PdfXmp {
            title: Some("Autumn Leaves".to_owned()),
            creators: vec!["Joseph Kosma".to_owned()],
            subjects: vec!["jazz".to_owned()],
        }),
        ..PdfInfo::default()
    };
    assert_eq!(
        serde_json::to_value(ScoreEvent::PdfInfoExtracted { info }).unwrap(),
        json!({"PdfInfoExtracted": {"info": {
            "page_count": 1, "page_width_pt": 595.0, "page_height_pt": 842.0,
            "title": null, "author": null, "subject": null, "keywords": null,
            "encrypted": false,
            "xmp": {"title": "Autumn Leaves", "creators": ["Joseph Kosma"], "subjects": ["jazz"]}
        }}})
    );
    let old: ScoreEvent =
        serde_json::from_value(json!({"ScoreMetadataUpdated": {"patch": {"rating": 3}}})).unwrap();
    assert!(matches!(
        old,
        ScoreEvent::ScoreMetadataUpdated {
            filled_from: None,
            ..
        }
    ));
}

/// 1.1 only added optional fields and a removal reason: an item of a whole score is
/// written as in 1.0 (above), and these are the new shapes.
#[test]
fn the_setlist_1_1_payloads_are_pinned() {
    let bookmark = SetlistEvent::SetlistItemAdded {
        item_id: SetlistItemId(id(9)),
        score_id: UploadId(id(5)),
        bookmark_id: Some(BookmarkId(id(10))),
        pages: None,
        position: 1,
        note: None,
    };
    assert_eq!(
        serde_json::to_value(&bookmark).unwrap(),
        json!({"SetlistItemAdded": {
            "item_id": "00000000-0000-0000-0000-000000000009",
            "score_id": "00000000-0000-0000-0000-000000000005",
            "bookmark_id": "00000000-0000-0000-0000-00000000000a",
            "position": 1,
            "note": null
        }})
    );
    let sequence = SetlistEvent::SetlistItemAdded {
        item_id: SetlistItemId(id(11)),
        score_id: UploadId(id(5)),
        bookmark_id: None,
        pages: Some(vec![1, 2, 1, 3]),
        position: 2,
        note: None,
    };
    assert_eq!(
        serde_json::to_value(&sequence).unwrap(),
        json!({"SetlistItemAdded": {
            "item_id": "00000000-0000-0000-0000-00000000000b",
            "score_id": "00000000-0000-0000-0000-000000000005",
            "pages": [1, 2, 1, 3],
            "position": 2,
            "note": null
        }})
    );
    assert_eq!(
        serde_json::to_value(SetlistEvent::SetlistDetailsUpdated {
            name: None,
            description: None,
            event_date: None,
            notes: Some(None),
        })
        .unwrap(),
        json!({"SetlistDetailsUpdated": {"notes": null}})
    );
    assert_eq!(
        serde_json::to_value(SetlistEvent::SetlistItemRemoved {
            item_id: SetlistItemId(id(9)),
            reason: ItemRemovalReason::BookmarkRemoved,
        })
        .unwrap(),
        json!({"SetlistItemRemoved": {
            "item_id": "00000000-0000-0000-0000-000000000009",
            "reason": "bookmark_removed"
        }})
    );
}

/// Stored 1.0 setlist events decode as the 1.1 events they are, with no upcaster.
#[test]
fn setlist_1_0_payloads_read_as_1_1_events() {
    let created: SetlistEvent = serde_json::from_value(json!({"SetlistCreated": {
        "setlist_id": "00000000-0000-0000-0000-000000000007",
        "owner": "00000000-0000-0000-0000-000000000001",
        "name": "Gig",
        "description": null,
        "event_date": null
    }}))
    .unwrap();
    assert!(matches!(
        created,
        SetlistEvent::SetlistCreated { notes: None, .. }
    ));
    let updated: SetlistEvent =
        serde_json::from_value(json!({"SetlistDetailsUpdated": {"name": "Gig II"}})).unwrap();
    assert!(matches!(
        updated,
        SetlistEvent::SetlistDetailsUpdated { notes: None, .. }
    ));
    let added: SetlistEvent = serde_json::from_value(json!({"SetlistItemAdded": {
        "item_id": "00000000-0000-0000-0000-000000000008",
        "score_id": "00000000-0000-0000-0000-000000000005",
        "position": 0,
        "note": "capo 2"
    }}))
    .unwrap();
    assert_eq!(added, setlist_events()[2]);
    assert!(!crate::upcast::is_outdated("SetlistItemAdded", "1.0"));
}

#[test]
fn payload_less_events_serialize_as_empty_objects() {
    assert_eq!(
        serde_json::to_value(ScoreEvent::UploadCancelled {}).unwrap(),
        json!({"UploadCancelled": {}})
    );
    assert_eq!(
        serde_json::to_value(SetlistEvent::SetlistDeleted {}).unwrap(),
        json!({"SetlistDeleted": {}})
    );
}
