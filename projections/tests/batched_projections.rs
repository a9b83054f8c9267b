//! Batched projections mean what one-by-one projections mean: over a long random mixed
//! history (`testkit::mixed_history`: every command decided by the real
//! aggregates, users' lives interleaved), rebuilding all eight projections through their
//! batched path (`Projection::apply_batch`, what the runner and the rebuild call) leaves
//! every read-model table row for row as rebuilding them through `OneByOne` (their `apply`,
//! event after event) does, on SQLite and on PostgreSQL, for two seeds; and so does
//! rebuilding all eight together in one pass (`projections::rebuild_all`). A rebuild replaces
//! a projection's rows wholesale, so the second dump holds only the batched path's rows;
//! every table but `open_reservations` must hold rows, so the comparison cannot pass on
//! empty read models.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use eventstore::Database;
use projections::{
    Accounts, Analytics, OneByOne, OpenReservations, Projection, QuotaBalances, QuotaLedger,
    Scores, Sessions, Setlists,
};
use testkit::read_models::{assert_same_read_models, dump_read_models};
use testkit::{TestDatabase, write_mixed_history};

/// Events of each history: five rebuild batches of 2,000, a few hundred users' lives.
const EVENTS: u64 = 10_000;

/// The histories compared, each in a fresh database.
const SEEDS: [u64; 2] = [1, 2];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    OneByOne,
    Batched,
    /// All eight batched in one pass (`projections rebuild all`).
    Together,
}

/// Rebuilds `projection` from the whole log along `path`; it must apply all `events`.
async fn rebuild<P: Projection>(projection: P, path: Path, database: &Database, events: u64) {
    let name = projection.name();
    let report = match path {
        Path::OneByOne => projections::rebuild(&OneByOne(projection), database, |_| {}).await,
        Path::Batched | Path::Together => projections::rebuild(&projection, database, |_| {}).await,
    }
    .unwrap_or_else(|error| panic!("rebuilding {name} {path:?}: {error}"));
    assert_eq!(report.applied, events, "{name} {path:?}");
}

/// Every projection rebuilt along `path`, in `rebuild all`'s order; then every table.
async fn rebuild_all(
    path: Path,
    database: &Database,
    events: u64,
) -> BTreeMap<&'static str, Vec<String>> {
    if path == Path::Together {
        let reports = projections::rebuild_all(database, |_, _| {})
            .await
            .unwrap_or_else(|error| panic!("rebuilding all together: {error}"));
        for (name, report) in reports {
            assert_eq!(report.applied, events, "{name} {path:?}");
        }
        return dump_read_models(database).await;
    }
    rebuild(Accounts, path, database, events).await;
    rebuild(Sessions, path, database, events).await;
    rebuild(Scores, path, database, events).await;
    rebuild(Setlists, path, database, events).await;
    rebuild(QuotaBalances, path, database, events).await;
    rebuild(QuotaLedger, path, database, events).await;
    rebuild(Analytics, path, database, events).await;
    rebuild(OpenReservations, path, database, events).await;
    dump_read_models(database).await
}

async fn batched_rebuilds_equal_one_by_one_rebuilds(test_database: TestDatabase, seed: u64) {
    let database = &test_database.database;
    let events = write_mixed_history(database, EVENTS, seed)
        .await
        .unwrap_or_else(|error| panic!("writing the history of seed {seed}: {error}"));
    assert_eq!(events, EVENTS);

    let one_by_one = rebuild_all(Path::OneByOne, database, events).await;
    for (table, rows) in &one_by_one {
        // Open reservations are only the uploads that the history's end cuts short.
        if *table != "open_reservations" {
            assert!(
                !rows.is_empty(),
                "the history of seed {seed} left {table} empty"
            );
        }
    }
    let batched = rebuild_all(Path::Batched, database, events).await;
    assert_same_read_models(&one_by_one, &batched);
    let together = rebuild_all(Path::Together, database, events).await;
    assert_same_read_models(&one_by_one, &together);
    test_database.cleanup().await;
}

#[tokio::test]
async fn batched_rebuilds_equal_one_by_one_rebuilds_on_sqlite() {
    for seed in SEEDS {
        batched_rebuilds_equal_one_by_one_rebuilds(TestDatabase::sqlite().await, seed).await;
    }
}

#[tokio::test]
async fn batched_rebuilds_equal_one_by_one_rebuilds_on_postgres() {
    for seed in SEEDS {
        if let Some(database) = TestDatabase::postgres().await {
            batched_rebuilds_equal_one_by_one_rebuilds(database, seed).await;
        }
    }
}
