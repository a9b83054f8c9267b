//! Every read-model table as sorted JSON text rows: to compare a live read model with a
//! rebuilt one row for row (the rebuild tests, the crash tests).

use std::collections::BTreeMap;

use eventstore::Database;

use crate::catalog::read_model_tables;

/// Table → its rows, each as JSON text, sorted: what two copies of the read models are
/// compared by (a live one and a rebuilt one, say).
pub async fn dump_read_models(
    database: &Database,
) -> Result<BTreeMap<&'static str, Vec<String>>, sqlx::Error> {
    let mut tables = BTreeMap::new();
    for table in read_model_tables() {
        tables.insert(table, dump_table(database, table).await?);
    }
    Ok(tables)
}

async fn dump_table(database: &Database, table: &str) -> Result<Vec<String>, sqlx::Error> {
    let mut rows: Vec<String> = match database {
        Database::Postgres(pool) => {
            sqlx::query_scalar(&format!("SELECT row_to_json(t)::text FROM {table} t"))
                .fetch_all(pool)
                .await?
        }
        Database::Sqlite(pool) => {
            let columns: Vec<String> = sqlx::query_scalar(&format!(
                "SELECT name FROM pragma_table_info('{table}') ORDER BY cid"
            ))
            .fetch_all(pool)
            .await?;
            let pairs: Vec<String> = columns
                .iter()
                .map(|column| format!("'{column}', \"{column}\""))
                .collect();
            sqlx::query_scalar(&format!(
                "SELECT json_object({}) FROM {table}",
                pairs.join(", ")
            ))
            .fetch_all(pool)
            .await?
        }
    };
    rows.sort();
    Ok(rows)
}
