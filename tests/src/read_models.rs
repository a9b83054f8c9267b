//! Every read-model table as sorted JSON text rows, to compare a live read model with a
//! rebuilt one row for row.

use std::collections::BTreeMap;

use eventstore::Database;

/// The tables of every projection.
pub const READ_MODEL_TABLES: &[&str] = &[
    "accounts",
    "sessions",
    "scores",
    "score_tags",
    "score_instruments",
    "setlists",
    "setlist_items",
    "quota_balances",
    "quota_ledger",
    "analytics_daily",
    "analytics_daily_users",
    "analytics_composers",
    "analytics_score_composers",
    "open_reservations",
];

/// Table → its rows, each as JSON text, sorted.
pub async fn dump_read_models(database: &Database) -> BTreeMap<&'static str, Vec<String>> {
    let mut tables = BTreeMap::new();
    for &table in READ_MODEL_TABLES {
        tables.insert(table, dump_table(database, table).await);
    }
    tables
}

async fn dump_table(database: &Database, table: &str) -> Vec<String> {
    let mut rows: Vec<String> = match database {
        Database::Postgres(pool) => {
            sqlx::query_scalar(&format!("SELECT row_to_json(t)::text FROM {table} t"))
                .fetch_all(pool)
                .await
                .unwrap_or_else(|error| panic!("dumping {table}: {error}"))
        }
        Database::Sqlite(pool) => {
            let columns: Vec<String> = sqlx::query_scalar(&format!(
                "SELECT name FROM pragma_table_info('{table}') ORDER BY cid"
            ))
            .fetch_all(pool)
            .await
            .unwrap_or_else(|error| panic!("columns of {table}: {error}"));
            let pairs: Vec<String> = columns
                .iter()
                .map(|column| format!("'{column}', \"{column}\""))
                .collect();
            sqlx::query_scalar(&format!(
                "SELECT json_object({}) FROM {table}",
                pairs.join(", ")
            ))
            .fetch_all(pool)
            .await
            .unwrap_or_else(|error| panic!("dumping {table}: {error}"))
        }
    };
    rows.sort();
    rows
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
