//! One event-store suite, run against both backends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::Arc;

use aggregates::{Bytes, Quota, QuotaCommand, QuotaError, QuotaEvent, UploadId};
use chrono::{Duration, Utc};
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{AggregateError, EventStore};
use eventstore::{
    Actor, AggregateStore, AnyEventRepository, CommandError, Database, EventLog, EventMetadata,
    LogCursor, RetryPolicy, Storage,
};
use testkit::tally::{Tally, TallyCommand};
use testkit::{TestDatabase, read_whole_log};

fn user_metadata() -> EventMetadata {
    EventMetadata::new(Actor::User(uuid::Uuid::new_v4()), Utc::now()).with_request_id("req-1")
}

fn tally_store(database: &Database) -> AggregateStore<Tally> {
    AggregateStore::new(database, Storage::Events, RetryPolicy::default())
}

fn add(by: u64) -> TallyCommand {
    TallyCommand::Add { by, note: None }
}

async fn appended_events_load_back_in_order(database: Database) {
    let store = tally_store(&database);
    let metadata = user_metadata();
    store.execute("t-1", add(2), &metadata).await.unwrap();
    let committed = store
        .execute(
            "t-1",
            TallyCommand::Add {
                by: 3,
                note: Some("한국어 é".into()),
            },
            &metadata,
        )
        .await
        .unwrap();
    assert_eq!(committed.version, 2);

    let loaded = store.load("t-1").await.unwrap();
    assert_eq!(loaded.version, 2);
    assert_eq!(loaded.aggregate.count, 5);
    assert_eq!(loaded.aggregate.last_note.as_deref(), Some("한국어 é"));

    let untouched = store.load("t-2").await.unwrap();
    assert_eq!(
        (untouched.version, untouched.aggregate),
        (0, Tally::default())
    );
}

async fn every_event_carries_its_metadata(database: Database) {
    let store = tally_store(&database);
    let metadata = EventMetadata::new(Actor::System, Utc::now())
        .with_request_id("req-42")
        .caused_by("event-7", "req-1");
    store.execute("t-1", add(1), &metadata).await.unwrap();

    let events = read_whole_log(&EventLog::new(database), 10).await;
    assert_eq!(events.len(), 1);
    let stored = events[0].metadata().expect("metadata parses");
    assert_eq!(stored.actor, Actor::System);
    assert_eq!(stored.request_id.as_deref(), Some("req-42"));
    assert_eq!(stored.causation_id.as_deref(), Some("event-7"));
    assert_eq!(stored.correlation_id.as_deref(), Some("req-1"));
    // Stored at microsecond precision.
    assert_eq!(
        stored.occurred_at.timestamp_micros(),
        metadata.occurred_at.timestamp_micros()
    );
    assert_eq!(events[0].event_type, "Added");
    assert_eq!(events[0].event_version, "1.0");
}

async fn a_rejected_command_appends_nothing(database: Database) {
    let store = tally_store(&database);
    let result = store
        .execute("t-1", TallyCommand::Refuse, &user_metadata())
        .await;
    assert!(matches!(result, Err(CommandError::Rejected(_))));
    assert_eq!(
        EventLog::new(database).head().await.unwrap(),
        LogCursor::START
    );
}

async fn a_commit_on_a_stale_version_is_a_conflict(database: Database) {
    let store: PersistedEventStore<AnyEventRepository, Tally> =
        PersistedEventStore::new_event_store(AnyEventRepository::new(&database));
    let first = store.load_aggregate("t-1").await.unwrap();
    let second = store.load_aggregate("t-1").await.unwrap();
    let added = vec![aggregates_free_event()];
    store
        .commit(added.clone(), first, Default::default())
        .await
        .unwrap();
    let lost = store.commit(added, second, Default::default()).await;
    assert!(
        matches!(lost, Err(AggregateError::AggregateConflict)),
        "{lost:?}"
    );
}

fn aggregates_free_event() -> testkit::tally::TallyEvent {
    testkit::tally::TallyEvent::Added { by: 1, note: None }
}

async fn concurrent_commands_on_one_aggregate_lose_no_update(database: Database) {
    let store = Arc::new(tally_store(&database));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.execute("shared", add(1), &user_metadata()).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let loaded = store.load("shared").await.unwrap();
    assert_eq!((loaded.aggregate.count, loaded.version), (20, 20));
}

/// `execute_new` skips the load for an id just minted; on an id that exists after all the
/// append conflicts and the command is decided again on the loaded state.
async fn a_new_aggregate_needs_no_load_and_an_existing_id_is_decided_again(database: Database) {
    let store = tally_store(&database);
    let created = store
        .execute_new("t-new", add(2), &user_metadata())
        .await
        .unwrap();
    assert_eq!((created.aggregate.count, created.version), (2, 1));
    let again = store
        .execute_new("t-new", add(3), &user_metadata())
        .await
        .unwrap();
    assert_eq!((again.aggregate.count, again.version), (5, 2));
    let loaded = store.load("t-new").await.unwrap();
    assert_eq!((loaded.aggregate.count, loaded.version), (5, 2));
}

/// Read-your-writes waits for a command's own event: the log places it by aggregate and
/// sequence, where a reader of the log finds it.
async fn the_log_places_an_aggregates_event(database: Database) {
    let store = tally_store(&database);
    store
        .execute("t-a", add(1), &user_metadata())
        .await
        .unwrap();
    store
        .execute("t-b", add(1), &user_metadata())
        .await
        .unwrap();
    store
        .execute("t-a", add(1), &user_metadata())
        .await
        .unwrap();
    let log = EventLog::new(database.clone());
    let events = read_whole_log(&log, 100).await;
    let second_of_a = events
        .iter()
        .find(|event| event.aggregate_id == "t-a" && event.sequence == 2)
        .map(|event| event.cursor);
    let tally_type = <testkit::tally::Tally as cqrs_es::Aggregate>::TYPE;
    assert_eq!(
        log.cursor_of(tally_type, "t-a", 2).await.unwrap(),
        second_of_a
    );
    assert_eq!(
        log.cursor_of(tally_type, "t-a", 2).await.unwrap(),
        Some(log.head().await.unwrap())
    );
    assert_eq!(log.cursor_of(tally_type, "t-a", 3).await.unwrap(), None);
}

async fn the_loser_gives_up_with_a_conflict_after_its_attempts(database: Database) {
    // One attempt and no back-off: of two racing commands at most one can win per round.
    let policy = RetryPolicy {
        max_attempts: 1,
        ..RetryPolicy::default()
    };
    let store = Arc::new(AggregateStore::<Tally>::new(
        &database,
        Storage::Events,
        policy,
    ));
    let mut conflicts = 0;
    for _ in 0..20 {
        let racers: Vec<_> = (0..4)
            .map(|_| {
                let store = Arc::clone(&store);
                tokio::spawn(async move { store.execute("race", add(1), &user_metadata()).await })
            })
            .collect();
        for racer in racers {
            match racer.await.unwrap() {
                Ok(_) => {}
                Err(CommandError::Conflict { attempts: 1 }) => conflicts += 1,
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
    }
    let loaded = store.load("race").await.unwrap();
    // Every success is counted exactly once, every conflict not at all.
    assert_eq!(loaded.aggregate.count, 80 - conflicts);
}

async fn a_hot_aggregate_starves_no_command_of_this_process(database: Database) {
    // Three attempts each, sixty-four commands at once on one aggregate: racing freely,
    // most would run out of attempts; the losers take turns and every command lands.
    let policy = RetryPolicy {
        max_attempts: 3,
        ..RetryPolicy::default()
    };
    let store = Arc::new(AggregateStore::<Tally>::new(
        &database,
        Storage::Events,
        policy,
    ));
    let racers: Vec<_> = (0..64)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.execute("hot", add(1), &user_metadata()).await })
        })
        .collect();
    for racer in racers {
        racer.await.unwrap().unwrap();
    }
    assert_eq!(store.load("hot").await.unwrap().aggregate.count, 64);
}

fn quota_store(database: &Database, storage: Storage) -> AggregateStore<Quota> {
    AggregateStore::new(database, storage, RetryPolicy::default())
}

async fn a_snapshot_loads_the_same_state_as_a_full_replay(database: Database) {
    let snapshotted = quota_store(&database, Storage::Snapshot(10));
    let metadata = user_metadata();
    let expires_at = Utc::now() + Duration::minutes(5);
    snapshotted
        .execute(
            "u-1",
            QuotaCommand::SetQuotaLimit {
                limit: Bytes(1_000_000),
            },
            &metadata,
        )
        .await
        .unwrap();
    for _ in 0..34 {
        let reserve = QuotaCommand::ReserveQuota {
            upload_id: UploadId::from_uuid(uuid::Uuid::new_v4()),
            bytes: Bytes(1_000),
            expires_at,
        };
        snapshotted
            .execute("u-1", reserve, &metadata)
            .await
            .unwrap();
    }
    let from_snapshot = snapshotted.load("u-1").await.unwrap();
    let replayed = quota_store(&database, Storage::Events)
        .load("u-1")
        .await
        .unwrap();
    assert_eq!(from_snapshot.version, 35);
    assert_eq!(replayed.version, 35);
    assert_eq!(from_snapshot.aggregate, replayed.aggregate);
    assert_eq!(from_snapshot.aggregate.reserved(), Bytes(34_000));

    let last_snapshot = snapshot_sequence(&database, "u-1").await;
    assert_eq!(last_snapshot, Some(30), "a snapshot every 10 events");
}

async fn snapshot_sequence(database: &Database, aggregate_id: &str) -> Option<i64> {
    let query =
        "SELECT last_sequence FROM snapshots WHERE aggregate_type = 'Quota' AND aggregate_id = $1";
    match database {
        Database::Sqlite(pool) => sqlx::query_scalar(query)
            .bind(aggregate_id)
            .fetch_optional(pool)
            .await
            .unwrap(),
        Database::Postgres(pool) => sqlx::query_scalar(query)
            .bind(aggregate_id)
            .fetch_optional(pool)
            .await
            .unwrap(),
    }
}

async fn the_log_holds_every_event_once_in_commit_order(database: Database) {
    let store = tally_store(&database);
    let metadata = user_metadata();
    let mut expected = Vec::new();
    for round in 0..5 {
        for id in ["a", "b", "c"] {
            store.execute(id, add(1), &metadata).await.unwrap();
            expected.push((id.to_owned(), round + 1));
        }
    }
    let log = EventLog::new(database);
    let events = read_whole_log(&log, 100).await;
    let seen: Vec<_> = events
        .iter()
        .map(|event| (event.aggregate_id.clone(), event.sequence))
        .collect();
    assert_eq!(seen, expected);
    assert!(
        events
            .windows(2)
            .all(|pair| pair[0].cursor < pair[1].cursor)
    );
    let positions: HashSet<_> = events.iter().map(|event| event.position()).collect();
    assert_eq!(positions.len(), events.len());
    assert_eq!(log.head().await.unwrap(), events.last().unwrap().cursor);
}

async fn reading_after_a_checkpoint_resumes_where_it_left_off(database: Database) {
    let store = tally_store(&database);
    store
        .execute("t", TallyCommand::AddMany { n: 10 }, &user_metadata())
        .await
        .unwrap();
    let log = EventLog::new(database);
    let head = log.head().await.unwrap();
    let mut cursor = LogCursor::START;
    let mut pages = Vec::new();
    while cursor < head {
        let page = log.read_after(cursor, 3).await.unwrap();
        // Empty while an older transaction elsewhere in the cluster is open (PostgreSQL).
        let Some(last) = page.last() else {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        cursor = last.cursor;
        pages.push(page.iter().map(|event| event.sequence).collect::<Vec<_>>());
    }
    assert_eq!(
        pages,
        vec![vec![1, 2, 3], vec![4, 5, 6], vec![7, 8, 9], vec![10]]
    );
    assert!(log.read_after(cursor, 3).await.unwrap().is_empty());
}

async fn stored_events_cannot_be_changed(database: Database) {
    tally_store(&database)
        .execute("t", add(1), &user_metadata())
        .await
        .unwrap();
    let update = "UPDATE events SET event_type = 'Forged'";
    let delete = "DELETE FROM events";
    match &database {
        Database::Sqlite(pool) => {
            assert!(sqlx::query(update).execute(pool).await.is_err());
            assert!(sqlx::query(delete).execute(pool).await.is_err());
        }
        Database::Postgres(pool) => {
            assert!(sqlx::query(update).execute(pool).await.is_err());
            assert!(sqlx::query(delete).execute(pool).await.is_err());
        }
    }
}

async fn fifty_concurrent_reservations_admit_exactly_what_the_limit_allows(database: Database) {
    let store = Arc::new(quota_store(&database, Storage::Snapshot(20)));
    let user = "user-50";
    store
        .execute(
            user,
            QuotaCommand::SetQuotaLimit {
                limit: Bytes(10_000),
            },
            &user_metadata(),
        )
        .await
        .unwrap();
    let expires_at = Utc::now() + Duration::minutes(5);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let reserve = QuotaCommand::ReserveQuota {
                    upload_id: UploadId::from_uuid(uuid::Uuid::new_v4()),
                    bytes: Bytes(1_000),
                    expires_at,
                };
                store.execute(user, reserve, &user_metadata()).await
            })
        })
        .collect();
    let mut admitted = 0;
    let mut refused = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => admitted += 1,
            Err(CommandError::Rejected(QuotaError::QuotaExceeded { .. })) => refused += 1,
            Err(other) => panic!("unexpected outcome: {other:?}"),
        }
    }
    assert_eq!((admitted, refused), (10, 40));

    // Fold the stored stream event by event: the ledger never passes the limit.
    let events = read_whole_log(&EventLog::new(database), 1_000).await;
    let mut quota = Quota::default();
    for event in events.iter().filter(|event| event.aggregate_id == user) {
        let event: QuotaEvent = serde_json::from_str(event.payload.get()).unwrap();
        cqrs_es::Aggregate::apply(&mut quota, event);
        assert!(quota.used().0 + quota.reserved().0 <= quota.limit().0);
    }
    assert_eq!(quota.reserved(), Bytes(10_000));
    assert_eq!(store.load(user).await.unwrap().aggregate, quota);
}

macro_rules! suite {
    ($backend:ident, $connect:expr) => {
        mod $backend {
            use super::*;

            suite!(@tests $connect;
                appended_events_load_back_in_order,
                every_event_carries_its_metadata,
                a_rejected_command_appends_nothing,
                a_commit_on_a_stale_version_is_a_conflict,
                concurrent_commands_on_one_aggregate_lose_no_update,
                the_loser_gives_up_with_a_conflict_after_its_attempts,
                a_hot_aggregate_starves_no_command_of_this_process,
                a_snapshot_loads_the_same_state_as_a_full_replay,
                the_log_holds_every_event_once_in_commit_order,
                reading_after_a_checkpoint_resumes_where_it_left_off,
                stored_events_cannot_be_changed,
                fifty_concurrent_reservations_admit_exactly_what_the_limit_allows,
                an_append_wakes_the_followers,
                a_new_aggregate_needs_no_load_and_an_existing_id_is_decided_again,
                the_log_places_an_aggregates_event,
            );
        }
    };
    (@tests $connect:expr; $($test:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $test() {
                let Some(test_database) = $connect.await else { return };
                super::$test(test_database.database.clone()).await;
                test_database.cleanup().await;
            }
        )*
    };
}

/// An append wakes this process's followers at once, and on PostgreSQL every other
/// process listening on `scoremate_events` too (delivered at commit).
async fn an_append_wakes_the_followers(database: Database) {
    let appended = Arc::new(tokio::sync::Notify::new());
    // A view's follow loop beside the background loop: both are told.
    let view = Arc::new(tokio::sync::Notify::new());
    let store = tally_store(&database)
        .notifying(Arc::clone(&appended))
        .notifying(Arc::clone(&view));
    let mut listener = match &database {
        Database::Postgres(pool) => {
            let mut listener = sqlx::postgres::PgListener::connect_with(pool)
                .await
                .unwrap();
            listener.listen("scoremate_events").await.unwrap();
            Some(listener)
        }
        Database::Sqlite(_) => None,
    };
    let woken = appended.notified();
    let view_woken = view.notified();
    store
        .execute("t-wake", add(1), &user_metadata())
        .await
        .unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), woken)
        .await
        .expect("the in-process signal");
    tokio::time::timeout(std::time::Duration::from_secs(5), view_woken)
        .await
        .expect("the view's signal");
    if let Some(listener) = &mut listener {
        let notification = tokio::time::timeout(std::time::Duration::from_secs(5), listener.recv())
            .await
            .expect("a notification from the trigger")
            .unwrap();
        assert_eq!(notification.channel(), "scoremate_events");
    }
    // A command that appends nothing wakes nobody.
    let quiet = appended.notified();
    store
        .execute("t-wake", TallyCommand::AddMany { n: 0 }, &user_metadata())
        .await
        .unwrap();
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(200), quiet)
            .await
            .is_err()
    );
}

async fn some_sqlite() -> Option<TestDatabase> {
    Some(TestDatabase::sqlite().await)
}

suite!(sqlite, some_sqlite());
suite!(postgres, TestDatabase::postgres());
