//! Every read-model table as sorted JSON text rows, to compare a live read model with a
//! rebuilt one row for row.

use std::collections::BTreeMap;

use eventstore::Database;

/// Table → its rows, each as JSON text, sorted.
pub async fn dump_read_models(database: &Database) -> BTreeMap<&'static str, Vec<String>> {
    projections::dump_read_models(database)
        .await
        .unwrap_or_else(|error| panic!("dumping the read models: {error}"))
}

/// Fails with the first differing table and rows, readable in the test output.
pub fn assert_same_read_models(
    live: &BTreeMap<&'static str, Vec<String>>,
    rebuilt: &BTreeMap<&'static str, Vec<String>>,
) {
    for (table, live_rows) in live {
        let rebuilt_rows = &rebuilt[table];
        if live_rows != rebuilt_rows {
            let only_live: Vec<&String> = live_rows
                .iter()
                .filter(|row| !rebuilt_rows.contains(row))
                .collect();
            let only_rebuilt: Vec<&String> = rebuilt_rows
                .iter()
                .filter(|row| !live_rows.contains(row))
                .collect();
            panic!(
                "table {table} differs ({} live rows, {} rebuilt)\nonly live: {only_live:#?}\nonly rebuilt: {only_rebuilt:#?}",
                live_rows.len(),
                rebuilt_rows.len()
            );
        }
    }
}

/// Waits (bounded) until every projection has applied every committed event. On PostgreSQL
/// the log is held back by any write transaction still open in the cluster (another test's,
/// say), so "idle" alone does not mean "caught up".
pub async fn wait_until_caught_up(app: &crate::TestApp, database: &Database) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        app.run_processors_until_idle().await;
        let statuses = projections::status(database)
            .await
            .unwrap_or_else(|error| panic!("projection status: {error}"));
        if statuses.iter().all(|status| status.lag == 0) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the read models did not catch up: {statuses:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
