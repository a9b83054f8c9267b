//! Several instances on one PostgreSQL database: a live step that finds a projection's
//! checkpoint claimed by another instance ends at once instead of queueing behind it with
//! a transaction open, applies the batch once the claim is gone, and announces every
//! checkpoint it moves (`NOTIFY scoremate_progress`) so the other instances' runners learn
//! of it without asking (`Follower::heard`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use eventstore::{Database, LogCursor};
use projections::{Follower, ProjectionRunner, Setlists, Step, parse_progress};
use sqlx::Connection;
use testkit::{TestDatabase, write_mixed_history};

#[tokio::test]
async fn a_claimed_checkpoint_is_skipped_not_waited_for_and_every_move_is_announced() {
    let Some(test_database) = TestDatabase::postgres().await else {
        return;
    };
    let database = test_database.database.clone();
    let Database::Postgres(pool) = &database else {
        panic!("a PostgreSQL test database");
    };
    write_mixed_history(&database, 600, 7).await.unwrap();
    let mut listener = sqlx::postgres::PgListener::connect_with(pool)
        .await
        .unwrap();
    listener.listen("scoremate_progress").await.unwrap();
    let runner = ProjectionRunner::new(Setlists, database.clone());
    // The first step creates the checkpoint row, and announces where it got.
    assert!(matches!(runner.run_step().await.unwrap(), Step::Handled(_)));
    let first = runner.reached();
    let heard = tokio::time::timeout(Duration::from_secs(5), listener.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        parse_progress(heard.payload()),
        Some(("setlists", first)),
        "{}",
        heard.payload()
    );

    // Another instance holds the checkpoint: the step answers at once, without applying.
    let mut other = sqlx::PgConnection::connect(&test_database.url)
        .await
        .unwrap();
    let mut claim = other.begin().await.unwrap();
    sqlx::query("SELECT position FROM checkpoints WHERE name = 'setlists' FOR UPDATE")
        .execute(&mut *claim)
        .await
        .unwrap();
    let skipped = tokio::time::timeout(Duration::from_secs(2), runner.run_step())
        .await
        .expect("the step does not wait for the other instance's claim")
        .unwrap();
    assert_eq!(skipped, Step::Idle);
    assert_eq!(runner.reached(), first);
    claim.rollback().await.unwrap();

    // Once the claim is gone, the next step applies the batch.
    assert!(matches!(runner.run_step().await.unwrap(), Step::Handled(_)));
    assert!(runner.reached() > first);

    // What another instance announces moves what this one knows; another name does not.
    let further = LogCursor {
        transaction_id: i64::MAX,
        position: i64::MAX,
    };
    runner.heard("scores", further);
    assert!(runner.reached() < further);
    runner.heard("setlists", further);
    assert_eq!(runner.reached(), further);
    drop(other);
    test_database.cleanup().await;
}
