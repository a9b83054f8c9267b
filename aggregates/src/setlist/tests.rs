#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::NaiveDate;
use cqrs_es::Aggregate;
use cqrs_es::test::TestFramework;
use uuid::Uuid;

use super::*;

type SetlistTester = TestFramework<Setlist>;

fn owner() -> UserId {
    UserId(Uuid::from_u128(1))
}

fn stranger() -> UserId {
    UserId(Uuid::from_u128(2))
}

fn item(n: u128) -> SetlistItemId {
    SetlistItemId(Uuid::from_u128(0x1000 + n))
}

fn score(n: u128) -> ScoreId {
    ScoreId::from_uuid(Uuid::from_u128(0x2000 + n))
}

fn concert_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 12, 24).unwrap()
}

fn created() -> SetlistEvent {
    SetlistEvent::SetlistCreated {
        setlist_id: SetlistId(Uuid::from_u128(9)),
        owner: owner(),
        name: "Christmas concert".to_owned(),
        description: Some("St. Mary's".to_owned()),
        event_date: Some(concert_day()),
        notes: None,
    }
}

fn create(name: &str, description: Option<&str>) -> SetlistCommand {
    SetlistCommand::CreateSetlist {
        setlist_id: SetlistId(Uuid::from_u128(9)),
        owner: owner(),
        name: name.to_owned(),
        description: description.map(str::to_owned),
        event_date: Some(concert_day()),
        notes: None,
    }
}

fn added(n: u128, score_n: u128, position: usize) -> SetlistEvent {
    SetlistEvent::SetlistItemAdded {
        item_id: item(n),
        score_id: score(score_n),
        bookmark_id: None,
        pages: None,
        position,
        note: None,
    }
}

fn add(n: u128, score_n: u128, position: Option<usize>) -> SetlistCommand {
    SetlistCommand::AddSetlistItem {
        user_id: owner(),
        item_id: item(n),
        score_id: score(score_n),
        bookmark_id: None,
        pages: None,
        position,
        note: None,
    }
}

fn removed(n: u128, reason: ItemRemovalReason) -> SetlistEvent {
    SetlistEvent::SetlistItemRemoved {
        item_id: item(n),
        reason,
    }
}

fn reorder(order: &[u128]) -> SetlistCommand {
    SetlistCommand::ReorderSetlistItems {
        user_id: owner(),
        item_ids: order.iter().copied().map(item).collect(),
    }
}

fn update_details(
    name: Option<&str>,
    description: Option<Option<&str>>,
    event_date: Option<Option<NaiveDate>>,
) -> SetlistCommand {
    SetlistCommand::UpdateSetlistDetails {
        user_id: owner(),
        name: name.map(str::to_owned),
        description: description.map(|description| description.map(str::to_owned)),
        event_date,
        notes: None,
    }
}

fn three_items() -> Vec<SetlistEvent> {
    vec![created(), added(1, 1, 0), added(2, 2, 1), added(3, 1, 2)]
}

fn fold(events: Vec<SetlistEvent>) -> Setlist {
    let mut setlist = Setlist::default();
    for event in events {
        setlist.apply(event);
    }
    setlist
}

fn order(setlist: &Setlist) -> Vec<SetlistItemId> {
    setlist.items().iter().map(|item| item.item_id).collect()
}

// --- CreateSetlist ---------------------------------------------------------------------

#[test]
fn creating_a_setlist_records_it() {
    SetlistTester::with(())
        .given_no_previous_events()
        .when(create("Christmas concert", Some("St. Mary's")))
        .then_expect_events(vec![created()]);
}

#[test]
fn creating_trims_the_name_and_the_description() {
    SetlistTester::with(())
        .given_no_previous_events()
        .when(create("  Christmas concert ", Some(" St. Mary's\n")))
        .then_expect_events(vec![created()]);
}

#[test]
fn creating_a_setlist_twice_is_refused() {
    SetlistTester::with(())
        .given(vec![created()])
        .when(create("Christmas concert", None))
        .then_expect_error(SetlistError::AlreadyCreated);
}

#[test]
fn creating_with_a_blank_name_and_a_long_description_reports_both() {
    let mut expected = FieldErrors::new();
    expected.add("description", "must be at most 2000 characters");
    expected.add("name", "must not be empty");
    SetlistTester::with(())
        .given_no_previous_events()
        .when(create(" ", Some(&"d".repeat(MAX_DESCRIPTION_CHARS + 1))))
        .then_expect_error(SetlistError::InvalidDetails(expected));
}

#[test]
fn a_name_of_200_characters_is_accepted_and_201_refused() {
    let fits = "이".repeat(MAX_NAME_CHARS);
    assert!(Setlist::default().decide(create(&fits, None)).is_ok());
    let mut expected = FieldErrors::new();
    expected.add("name", "must be at most 200 characters");
    SetlistTester::with(())
        .given_no_previous_events()
        .when(create(&format!("{fits}!"), None))
        .then_expect_error(SetlistError::InvalidDetails(expected));
}

// --- UpdateSetlistDetails --------------------------------------------------------------

#[test]
fn updating_details_records_the_changes() {
    SetlistTester::with(())
        .given(vec![created()])
        .when(update_details(
            Some("Christmas Eve"),
            Some(Some("Crypt")),
            None,
        ))
        .then_expect_events(vec![SetlistEvent::SetlistDetailsUpdated {
            name: Some("Christmas Eve".to_owned()),
            description: Some(Some("Crypt".to_owned())),
            event_date: None,
            notes: None,
        }]);
}

#[test]
fn clearing_the_description_and_event_date_records_nulls() {
    SetlistTester::with(())
        .given(vec![created()])
        .when(update_details(None, Some(Some("  ")), Some(None)))
        .then_expect_events(vec![SetlistEvent::SetlistDetailsUpdated {
            name: None,
            description: Some(None),
            event_date: Some(None),
            notes: None,
        }]);
}

#[test]
fn updating_details_to_the_current_values_changes_nothing() {
    SetlistTester::with(())
        .given(vec![created()])
        .when(update_details(
            Some("Christmas concert"),
            Some(Some("St. Mary's")),
            Some(Some(concert_day())),
        ))
        .then_expect_events(vec![]);
}

#[test]
fn updating_with_a_blank_name_is_refused() {
    let mut expected = FieldErrors::new();
    expected.add("name", "must not be empty");
    SetlistTester::with(())
        .given(vec![created()])
        .when(update_details(Some("   "), None, None))
        .then_expect_error(SetlistError::InvalidDetails(expected));
}

#[test]
fn updating_another_users_setlist_answers_not_found() {
    SetlistTester::with(())
        .given(vec![created()])
        .when(SetlistCommand::UpdateSetlistDetails {
            user_id: stranger(),
            name: Some("Mine now".to_owned()),
            description: None,
            event_date: None,
            notes: None,
        })
        .then_expect_error(SetlistError::NotFound);
}

#[test]
fn updating_a_deleted_setlist_answers_not_found() {
    SetlistTester::with(())
        .given(vec![created(), SetlistEvent::SetlistDeleted {}])
        .when(update_details(Some("Again"), None, None))
        .then_expect_error(SetlistError::NotFound);
}

// --- AddSetlistItem --------------------------------------------------------------------

#[test]
fn adding_an_item_without_a_position_appends_it() {
    SetlistTester::with(())
        .given(vec![created(), added(1, 1, 0)])
        .when(add(2, 2, None))
        .then_expect_events(vec![added(2, 2, 1)]);
}

#[test]
fn adding_an_item_at_a_position_inserts_it_there() {
    SetlistTester::with(())
        .given(three_items())
        .when(add(4, 4, Some(1)))
        .then_expect_events(vec![added(4, 4, 1)]);
    let mut events = three_items();
    events.push(added(4, 4, 1));
    assert_eq!(
        order(&fold(events)),
        vec![item(1), item(4), item(2), item(3)]
    );
}

#[test]
fn adding_at_the_position_just_past_the_end_appends() {
    SetlistTester::with(())
        .given(three_items())
        .when(add(4, 4, Some(3)))
        .then_expect_events(vec![added(4, 4, 3)]);
}

#[test]
fn adding_at_a_position_beyond_the_end_is_refused() {
    SetlistTester::with(())
        .given(three_items())
        .when(add(4, 4, Some(4)))
        .then_expect_error(SetlistError::InvalidPosition {
            position: 4,
            len: 3,
        });
}

#[test]
fn the_same_score_may_appear_twice_as_an_encore() {
    SetlistTester::with(())
        .given(vec![created(), added(1, 1, 0)])
        .when(add(2, 1, None))
        .then_expect_events(vec![added(2, 1, 1)]);
}

#[test]
fn adding_an_item_with_a_note_stores_it_trimmed() {
    SetlistTester::with(())
        .given(vec![created()])
        .when(SetlistCommand::AddSetlistItem {
            user_id: owner(),
            item_id: item(1),
            score_id: score(1),
            bookmark_id: None,
            pages: None,
            position: None,
            note: Some(" capo 2 ".to_owned()),
        })
        .then_expect_events(vec![SetlistEvent::SetlistItemAdded {
            item_id: item(1),
            score_id: score(1),
            bookmark_id: None,
            pages: None,
            position: 0,
            note: Some("capo 2".to_owned()),
        }]);
}

#[test]
fn a_note_longer_than_500_characters_is_refused() {
    let mut expected = FieldErrors::new();
    expected.add("note", "must be at most 500 characters");
    SetlistTester::with(())
        .given(vec![created()])
        .when(SetlistCommand::AddSetlistItem {
            user_id: owner(),
            item_id: item(1),
            score_id: score(1),
            bookmark_id: None,
            pages: None,
            position: None,
            note: Some("n".repeat(MAX_NOTE_CHARS + 1)),
        })
        .then_expect_error(SetlistError::InvalidDetails(expected));
}

#[test]
fn adding_an_item_again_with_the_same_content_changes_nothing() {
    SetlistTester::with(())
        .given(vec![created(), added(1, 1, 0)])
        .when(add(1, 1, None))
        .then_expect_events(vec![]);
}

#[test]
fn adding_an_item_id_already_used_for_another_score_is_refused() {
    SetlistTester::with(())
        .given(vec![created(), added(1, 1, 0)])
        .when(add(1, 2, None))
        .then_expect_error(SetlistError::DuplicateItemId { item_id: item(1) });
}

#[test]
fn adding_to_another_users_setlist_answers_not_found() {
    SetlistTester::with(())
        .given(vec![created()])
        .when(SetlistCommand::AddSetlistItem {
            user_id: stranger(),
            item_id: item(1),
            score_id: score(1),
            bookmark_id: None,
            pages: None,
            position: None,
            note: None,
        })
        .then_expect_error(SetlistError::NotFound);
}

// --- RemoveSetlistItem -----------------------------------------------------------------

#[test]
fn removing_an_item_records_it() {
    SetlistTester::with(())
        .given(three_items())
        .when(SetlistCommand::RemoveSetlistItem {
            user_id: owner(),
            item_id: item(2),
        })
        .then_expect_events(vec![removed(2, ItemRemovalReason::UserRemoved)]);
}

#[test]
fn removing_an_item_not_in_the_list_is_refused() {
    SetlistTester::with(())
        .given(vec![
            created(),
            added(1, 1, 0),
            removed(1, ItemRemovalReason::UserRemoved),
        ])
        .when(SetlistCommand::RemoveSetlistItem {
            user_id: owner(),
            item_id: item(1),
        })
        .then_expect_error(SetlistError::ItemNotFound { item_id: item(1) });
}

#[test]
fn removing_from_another_users_setlist_answers_not_found() {
    SetlistTester::with(())
        .given(three_items())
        .when(SetlistCommand::RemoveSetlistItem {
            user_id: stranger(),
            item_id: item(1),
        })
        .then_expect_error(SetlistError::NotFound);
}

// --- RemoveScoreFromSetlist ------------------------------------------------------------

#[test]
fn a_deleted_score_leaves_every_item_that_holds_it() {
    SetlistTester::with(())
        .given(three_items())
        .when(SetlistCommand::RemoveScoreFromSetlist { score_id: score(1) })
        .then_expect_events(vec![
            removed(1, ItemRemovalReason::ScoreDeleted),
            removed(3, ItemRemovalReason::ScoreDeleted),
        ]);
}

#[test]
fn removing_a_score_the_setlist_does_not_hold_changes_nothing() {
    SetlistTester::with(())
        .given(three_items())
        .when(SetlistCommand::RemoveScoreFromSetlist { score_id: score(7) })
        .then_expect_events(vec![]);
}

#[test]
fn removing_a_score_from_a_deleted_setlist_changes_nothing() {
    let mut events = three_items();
    events.push(SetlistEvent::SetlistDeleted {});
    SetlistTester::with(())
        .given(events)
        .when(SetlistCommand::RemoveScoreFromSetlist { score_id: score(1) })
        .then_expect_events(vec![]);
}

#[test]
fn removing_a_score_from_a_setlist_never_created_answers_not_found() {
    SetlistTester::with(())
        .given_no_previous_events()
        .when(SetlistCommand::RemoveScoreFromSetlist { score_id: score(1) })
        .then_expect_error(SetlistError::NotFound);
}

// --- ReorderSetlistItems ---------------------------------------------------------------

#[test]
fn reordering_the_items_records_the_new_order() {
    SetlistTester::with(())
        .given(three_items())
        .when(reorder(&[3, 1, 2]))
        .then_expect_events(vec![SetlistEvent::SetlistItemsReordered {
            item_ids: vec![item(3), item(1), item(2)],
        }]);
    let mut events = three_items();
    events.push(SetlistEvent::SetlistItemsReordered {
        item_ids: vec![item(3), item(1), item(2)],
    });
    assert_eq!(order(&fold(events)), vec![item(3), item(1), item(2)]);
}

#[test]
fn reordering_into_the_current_order_changes_nothing() {
    SetlistTester::with(())
        .given(three_items())
        .when(reorder(&[1, 2, 3]))
        .then_expect_events(vec![]);
}

#[test]
fn reordering_without_every_item_is_refused() {
    SetlistTester::with(())
        .given(three_items())
        .when(reorder(&[3, 1]))
        .then_expect_error(SetlistError::NotAPermutation);
}

#[test]
fn reordering_with_an_item_listed_twice_is_refused() {
    SetlistTester::with(())
        .given(three_items())
        .when(reorder(&[3, 1, 1, 2]))
        .then_expect_error(SetlistError::NotAPermutation);
}

#[test]
fn reordering_with_an_unknown_item_is_refused() {
    SetlistTester::with(())
        .given(three_items())
        .when(reorder(&[3, 1, 9]))
        .then_expect_error(SetlistError::NotAPermutation);
}

#[test]
fn reordering_another_users_setlist_answers_not_found() {
    SetlistTester::with(())
        .given(three_items())
        .when(SetlistCommand::ReorderSetlistItems {
            user_id: stranger(),
            item_ids: vec![item(3), item(2), item(1)],
        })
        .then_expect_error(SetlistError::NotFound);
}

// --- DeleteSetlist ---------------------------------------------------------------------

#[test]
fn deleting_a_setlist_records_it() {
    SetlistTester::with(())
        .given(three_items())
        .when(SetlistCommand::DeleteSetlist { user_id: owner() })
        .then_expect_events(vec![SetlistEvent::SetlistDeleted {}]);
}

#[test]
fn deleting_a_deleted_setlist_answers_not_found() {
    SetlistTester::with(())
        .given(vec![created(), SetlistEvent::SetlistDeleted {}])
        .when(SetlistCommand::DeleteSetlist { user_id: owner() })
        .then_expect_error(SetlistError::NotFound);
}

#[test]
fn deleting_another_users_setlist_answers_not_found() {
    SetlistTester::with(())
        .given(vec![created()])
        .when(SetlistCommand::DeleteSetlist {
            user_id: stranger(),
        })
        .then_expect_error(SetlistError::NotFound);
}

#[test]
fn deleting_a_setlist_never_created_answers_not_found() {
    SetlistTester::with(())
        .given_no_previous_events()
        .when(SetlistCommand::DeleteSetlist { user_id: owner() })
        .then_expect_error(SetlistError::NotFound);
}

// --- State -----------------------------------------------------------------------------

#[test]
fn the_setlist_exposes_its_details_and_items() {
    let mut events = three_items();
    events.push(SetlistEvent::SetlistDetailsUpdated {
        name: None,
        description: Some(None),
        event_date: None,
        notes: None,
    });
    events.push(removed(2, ItemRemovalReason::UserRemoved));
    let setlist = fold(events);
    assert_eq!(setlist.setlist_id(), Some(SetlistId(Uuid::from_u128(9))));
    assert_eq!(setlist.owner(), Some(owner()));
    assert_eq!(setlist.name(), "Christmas concert");
    assert_eq!(setlist.description(), None);
    assert_eq!(setlist.event_date(), Some(concert_day()));
    assert_eq!(order(&setlist), vec![item(1), item(3)]);
    assert_eq!(setlist.item(item(3)).map(|i| i.score_id), Some(score(1)));
    assert!(!setlist.is_deleted());
}

#[test]
fn the_snapshot_round_trips_through_json() {
    let setlist = fold(three_items());
    let json = serde_json::to_string(&setlist).unwrap();
    assert_eq!(serde_json::from_str::<Setlist>(&json).unwrap(), setlist);
}

#[test]
fn a_details_update_tells_an_absent_field_from_a_null_one() {
    let event = SetlistEvent::SetlistDetailsUpdated {
        name: None,
        description: None,
        event_date: Some(None),
        notes: None,
    };
    let json = serde_json::to_value(&event).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"SetlistDetailsUpdated": {"event_date": null}})
    );
    assert_eq!(serde_json::from_value::<SetlistEvent>(json).unwrap(), event);
}

// --- Bookmarks, page sequences and notes (1.1) -------------------------------------------

fn bookmark(n: u128) -> BookmarkId {
    BookmarkId(Uuid::from_u128(0x3000 + n))
}

fn add_part(n: u128, score_n: u128, part: ItemPart) -> SetlistCommand {
    SetlistCommand::AddSetlistItem {
        user_id: owner(),
        item_id: item(n),
        score_id: score(score_n),
        bookmark_id: part.bookmark_id,
        pages: part.pages,
        position: None,
        note: None,
    }
}

fn added_part(n: u128, score_n: u128, part: ItemPart, position: usize) -> SetlistEvent {
    SetlistEvent::SetlistItemAdded {
        item_id: item(n),
        score_id: score(score_n),
        bookmark_id: part.bookmark_id,
        pages: part.pages,
        position,
        note: None,
    }
}

fn of_bookmark(n: u128) -> ItemPart {
    ItemPart {
        bookmark_id: Some(bookmark(n)),
        pages: None,
    }
}

fn of_pages(pages: &[u32]) -> ItemPart {
    ItemPart {
        bookmark_id: None,
        pages: Some(pages.to_vec()),
    }
}

#[test]
fn an_item_may_play_a_bookmark_of_its_score() {
    SetlistTester::with(())
        .given(vec![created(), added(1, 1, 0)])
        .when(add_part(2, 1, of_bookmark(7)))
        .then_expect_events(vec![added_part(2, 1, of_bookmark(7), 1)]);
}

#[test]
fn an_item_may_play_a_page_sequence_with_repeats() {
    let repeats = of_pages(&[1, 2, 3, 4, 3, 4, 5]);
    SetlistTester::with(())
        .given(vec![created()])
        .when(add_part(1, 1, repeats.clone()))
        .then_expect_events(vec![added_part(1, 1, repeats.clone(), 0)]);
    let setlist = fold(vec![created(), added_part(1, 1, repeats, 0)]);
    assert_eq!(
        setlist.item(item(1)).and_then(|item| item.pages.clone()),
        Some(vec![1, 2, 3, 4, 3, 4, 5])
    );
}

#[test]
fn a_bookmark_item_may_play_its_own_page_sequence() {
    let both = ItemPart {
        bookmark_id: Some(bookmark(1)),
        pages: Some(vec![47, 48, 47, 49]),
    };
    SetlistTester::with(())
        .given(vec![created()])
        .when(add_part(1, 1, both.clone()))
        .then_expect_events(vec![added_part(1, 1, both, 0)]);
}

#[test]
fn a_page_sequence_is_1_to_500_pages_each_within_the_page_limit() {
    let refused = |pages: Vec<u32>, message: String| {
        let mut expected = FieldErrors::new();
        expected.add("pages", message);
        SetlistTester::with(())
            .given(vec![created()])
            .when(add_part(1, 1, of_pages(&pages)))
            .then_expect_error(SetlistError::InvalidDetails(expected));
    };
    refused(vec![], "Must list 1 to 500 pages.".to_owned());
    refused(
        vec![1; MAX_SEQUENCE_PAGES + 1],
        "Must list 1 to 500 pages.".to_owned(),
    );
    refused(vec![1, 0], "Pages are 1 to 100000.".to_owned());
    refused(vec![MAX_PAGE + 1], "Pages are 1 to 100000.".to_owned());
    SetlistTester::with(())
        .given(vec![created()])
        .when(add_part(1, 1, of_pages(&[MAX_PAGE; MAX_SEQUENCE_PAGES])))
        .then_expect_events(vec![added_part(
            1,
            1,
            of_pages(&[MAX_PAGE; MAX_SEQUENCE_PAGES]),
            0,
        )]);
}

#[test]
fn repeating_an_item_id_with_another_part_is_refused() {
    SetlistTester::with(())
        .given(vec![created(), added_part(1, 1, of_bookmark(1), 0)])
        .when(add_part(1, 1, of_bookmark(2)))
        .then_expect_error(SetlistError::DuplicateItemId { item_id: item(1) });
    SetlistTester::with(())
        .given(vec![created(), added_part(1, 1, of_bookmark(1), 0)])
        .when(add_part(1, 1, of_bookmark(1)))
        .then_expect_events(vec![]);
}

#[test]
fn a_removed_bookmark_takes_exactly_its_items_out() {
    SetlistTester::with(())
        .given(vec![
            created(),
            added(1, 1, 0),
            added_part(2, 1, of_bookmark(7), 1),
            added_part(3, 1, of_bookmark(8), 2),
            added_part(4, 2, of_bookmark(7), 3),
            added_part(5, 1, of_bookmark(7), 4),
            added_part(6, 1, of_pages(&[1, 2]), 5),
        ])
        .when(SetlistCommand::RemoveBookmarkFromSetlist {
            score_id: score(1),
            bookmark_id: bookmark(7),
        })
        .then_expect_events(vec![
            removed(2, ItemRemovalReason::BookmarkRemoved),
            removed(5, ItemRemovalReason::BookmarkRemoved),
        ]);
}

#[test]
fn a_removed_bookmark_changes_nothing_on_a_deleted_setlist_and_is_refused_on_none() {
    SetlistTester::with(())
        .given(vec![
            created(),
            added_part(1, 1, of_bookmark(7), 0),
            SetlistEvent::SetlistDeleted {},
        ])
        .when(SetlistCommand::RemoveBookmarkFromSetlist {
            score_id: score(1),
            bookmark_id: bookmark(7),
        })
        .then_expect_events(vec![]);
    SetlistTester::with(())
        .given_no_previous_events()
        .when(SetlistCommand::RemoveBookmarkFromSetlist {
            score_id: score(1),
            bookmark_id: bookmark(7),
        })
        .then_expect_error(SetlistError::NotFound);
}

#[test]
fn notes_are_set_at_creation_trimmed_changed_and_cleared() {
    SetlistTester::with(())
        .given_no_previous_events()
        .when(SetlistCommand::CreateSetlist {
            setlist_id: SetlistId(Uuid::from_u128(9)),
            owner: owner(),
            name: "Gig".to_owned(),
            description: None,
            event_date: None,
            notes: Some("  Bring the capo.  ".to_owned()),
        })
        .then_expect_events(vec![SetlistEvent::SetlistCreated {
            setlist_id: SetlistId(Uuid::from_u128(9)),
            owner: owner(),
            name: "Gig".to_owned(),
            description: None,
            event_date: None,
            notes: Some("Bring the capo.".to_owned()),
        }]);
    let notes = |notes: Option<&str>| SetlistCommand::UpdateSetlistDetails {
        user_id: owner(),
        name: None,
        description: None,
        event_date: None,
        notes: Some(notes.map(str::to_owned)),
    };
    let changed = SetlistEvent::SetlistDetailsUpdated {
        name: None,
        description: None,
        event_date: None,
        notes: Some(Some("Tune down".to_owned())),
    };
    SetlistTester::with(())
        .given(vec![created()])
        .when(notes(Some("Tune down")))
        .then_expect_events(vec![changed.clone()]);
    SetlistTester::with(())
        .given(vec![created(), changed.clone()])
        .when(notes(Some("Tune down")))
        .then_expect_events(vec![]);
    SetlistTester::with(())
        .given(vec![created(), changed.clone()])
        .when(notes(None))
        .then_expect_events(vec![SetlistEvent::SetlistDetailsUpdated {
            name: None,
            description: None,
            event_date: None,
            notes: Some(None),
        }]);
    assert_eq!(fold(vec![created(), changed]).notes(), Some("Tune down"));
    let mut expected = FieldErrors::new();
    expected.add("notes", "must be at most 10000 characters");
    SetlistTester::with(())
        .given(vec![created()])
        .when(notes(Some(&"n".repeat(MAX_NOTES_CHARS + 1))))
        .then_expect_error(SetlistError::InvalidDetails(expected));
}

#[test]
fn details_errors_name_overlong_notes() {
    let errors = details_errors(None, None, Some(&"n".repeat(MAX_NOTES_CHARS + 1)));
    assert!(errors.into_result().is_err());
    assert!(
        details_errors(None, None, Some(&"n".repeat(MAX_NOTES_CHARS)))
            .into_result()
            .is_ok()
    );
}
