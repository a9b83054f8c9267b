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
