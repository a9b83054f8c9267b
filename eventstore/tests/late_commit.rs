//! The global log on PostgreSQL never skips an event whose transaction commits late.
//!
//! Positions come from a sequence when a row is inserted, but rows become visible when
//! their transaction commits: a reader that simply follows `position > checkpoint` passes
//! an event whose transaction took an earlier position and committed after a later one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;
use eventstore::{Actor, AggregateStore, EventLog, EventMetadata, LogCursor, RetryPolicy, Storage};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use testkit::tally::{Tally, TallyCommand};
use testkit::{TestDatabase, read_whole_log};

const INSERT_RAW: &str = "
INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
VALUES ('Tally', $1, 1, 'Added', '1.0', '{\"Added\": {\"by\": 1, \"note\": null}}', '{}')";

async fn raw_pool(url: &str) -> PgPool {
    PgPoolOptions::new()
        .max_connections(40)
        .connect(url)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_event_that_commits_after_a_later_position_is_read_in_its_place() {
    let Some(test_database) = TestDatabase::postgres().await else {
        return;
    };
    let pool = raw_pool(&test_database.url).await;
    let log = EventLog::new(test_database.database.clone());

    // `slow` takes the first position and holds its transaction open…
    let mut slow = pool.begin().await.unwrap();
    sqlx::query(INSERT_RAW)
        .bind("slow")
        .execute(&mut *slow)
        .await
        .unwrap();
    // …while `fast` takes the second and commits.
    sqlx::query(INSERT_RAW)
        .bind("fast")
        .execute(&pool)
        .await
        .unwrap();

    let naive_after_fast: Vec<i64> =
        sqlx::query_scalar("SELECT position FROM events ORDER BY position")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(naive_after_fast.len(), 1, "only `fast` is visible so far");
    // A naive `position > checkpoint` reader would now checkpoint past `slow`'s position.
    assert!(naive_after_fast[0] > 1);

    assert!(
        log.read_after(LogCursor::START, 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing is readable while an older transaction is still open"
    );

    slow.commit().await.unwrap();
    let events = read_whole_log(&log, 10).await;
    let order: Vec<_> = events
        .iter()
        .map(|event| event.aggregate_id.as_str())
        .collect();
    assert_eq!(order, ["slow", "fast"]);
    assert!(events[0].position() < events[1].position());

    pool.close().await;
    test_database.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tailing_reader_sees_every_event_exactly_once_while_writers_commit_late() {
    let Some(test_database) = TestDatabase::postgres().await else {
        return;
    };
    let pool = raw_pool(&test_database.url).await;
    let store = Arc::new(AggregateStore::<Tally>::new(
        &test_database.database,
        Storage::Events,
        RetryPolicy::default(),
    ));
    let log = EventLog::new(test_database.database.clone());
    let writing = Arc::new(AtomicBool::new(true));

    let reader = {
        let writing = Arc::clone(&writing);
        tokio::spawn(async move {
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            let mut cursor = LogCursor::START;
            let mut seen = Vec::new();
            loop {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the reader never caught up"
                );
                let done = !writing.load(Ordering::SeqCst);
                let batch = log.read_after(cursor, 7).await.unwrap();
                if batch.is_empty() {
                    if done && cursor == log.head().await.unwrap() {
                        return seen;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
                for event in batch {
                    assert!(event.cursor > cursor, "log order went backwards");
                    cursor = event.cursor;
                    seen.push(event.position());
                }
            }
        })
    };

    let mut writers = Vec::new();
    // Writers that hold their transaction open for a while after inserting.
    for writer in 0..12_u64 {
        let pool = pool.clone();
        writers.push(tokio::spawn(async move {
            for round in 0..5_u64 {
                let mut transaction = pool.begin().await.unwrap();
                let id = format!("late-{writer}-{round}");
                sqlx::query(INSERT_RAW)
                    .bind(&id)
                    .execute(&mut *transaction)
                    .await
                    .unwrap();
                let hold =
                    f64::from(u32::try_from((writer * 7 + round * 13) % 40).unwrap()) / 1000.0;
                sqlx::query("SELECT pg_sleep($1)")
                    .bind(hold)
                    .execute(&mut *transaction)
                    .await
                    .unwrap();
                transaction.commit().await.unwrap();
            }
        }));
    }
    // Writers going through the event store as the service does.
    for writer in 0..8_u64 {
        let store = Arc::clone(&store);
        writers.push(tokio::spawn(async move {
            let metadata = EventMetadata::new(Actor::System, Utc::now());
            for _ in 0..10 {
                let command = TallyCommand::Add { by: 1, note: None };
                store
                    .execute(&format!("store-{writer}"), command, &metadata)
                    .await
                    .unwrap();
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    writing.store(false, Ordering::SeqCst);
    let seen = reader.await.unwrap();

    let stored: Vec<i64> = sqlx::query_scalar("SELECT position FROM events")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(stored.len(), 12 * 5 + 8 * 10);
    let unique: HashSet<_> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "an event was read twice");
    assert_eq!(
        unique,
        stored.into_iter().collect::<HashSet<_>>(),
        "an event was skipped"
    );

    pool.close().await;
    test_database.cleanup().await;
}
