//! Set-based statements for applying a batch of events: the touched rows read with one
//! `IN (…)` per table, written back with multi-row `VALUES`, whose value lists are only
//! known at run time, bound alike on both backends.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use eventstore::RecordedEvent;
use serde_json::Value;
use sqlx::FromRow;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use crate::transaction::ReadModelTx;

/// One bound value, typed as the single-row statements bind it.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Text(Option<String>),
    Int(Option<i64>),
    Json(Option<Value>),
    Time(Option<DateTime<Utc>>),
    Date(Option<NaiveDate>),
}

macro_rules! param_from {
    ($($variant:ident: $type:ty),* $(,)?) => {
        $(
            impl From<$type> for Param {
                fn from(value: $type) -> Self {
                    Self::$variant(Some(value.into()))
                }
            }
            impl From<Option<$type>> for Param {
                fn from(value: Option<$type>) -> Self {
                    Self::$variant(value.map(Into::into))
                }
            }
        )*
    };
}

param_from!(
    Text: String,
    Text: &str,
    Int: i64,
    Json: Value,
    Time: DateTime<Utc>,
    Date: NaiveDate,
);

/// Values per statement: well under SQLite's 32,766 and PostgreSQL's 65,535 binds.
const MAX_PARAMS: usize = 12_000;

macro_rules! bound {
    ($query:expr, $params:expr) => {{
        let mut query = $query;
        for param in $params {
            query = match param {
                Param::Text(value) => query.bind(value),
                Param::Int(value) => query.bind(value),
                Param::Json(value) => query.bind(value),
                Param::Time(value) => query.bind(value),
                Param::Date(value) => query.bind(value),
            };
        }
        query
    }};
}

/// Runs `sql` with `params` on either backend.
pub async fn execute_with(
    tx: &mut ReadModelTx<'_>,
    sql: &str,
    params: Vec<Param>,
) -> Result<(), sqlx::Error> {
    match tx {
        ReadModelTx::Sqlite(transaction, _) => {
            bound!(sqlx::query(sql), params)
                .execute(&mut **transaction)
                .await?;
        }
        ReadModelTx::Postgres(transaction) => {
            bound!(sqlx::query(sql), params)
                .execute(&mut **transaction)
                .await?;
        }
    }
    Ok(())
}

/// Reads every row of `sql` with `params` as `R` on either backend.
pub async fn fetch_with<R>(
    tx: &mut ReadModelTx<'_>,
    sql: &str,
    params: Vec<Param>,
) -> Result<Vec<R>, sqlx::Error>
where
    R: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
{
    match tx {
        ReadModelTx::Sqlite(transaction, _) => {
            bound!(sqlx::query_as::<_, R>(sql), params)
                .fetch_all(&mut **transaction)
                .await
        }
        ReadModelTx::Postgres(transaction) => {
            bound!(sqlx::query_as::<_, R>(sql), params)
                .fetch_all(&mut **transaction)
                .await
        }
    }
}

/// `$first, …` for `count` values.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|number| format!("${number}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Writes `rows` (each the values of one row, all of one width) with statements
/// `{head} (…), (…) {tail}`, as few as the bind limit allows. An upsert's `tail` is its
/// `ON CONFLICT` clause; a key must appear once in `rows`, as PostgreSQL refuses to
/// update one row twice in a statement.
pub async fn insert_rows(
    tx: &mut ReadModelTx<'_>,
    head: &str,
    tail: &str,
    rows: Vec<Vec<Param>>,
) -> Result<(), sqlx::Error> {
    let Some(width) = rows.first().map(Vec::len).filter(|width| *width > 0) else {
        return Ok(());
    };
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<Param>> = rows.by_ref().take(MAX_PARAMS / width).collect();
        let tuples: Vec<String> = (0..chunk.len())
            .map(|row| format!("({})", placeholders(row * width + 1, width)))
            .collect();
        let sql = format!("{head} {} {tail}", tuples.join(", "));
        execute_with(tx, &sql, chunk.into_iter().flatten().collect()).await?;
    }
    Ok(())
}

/// Runs `template` once per chunk of `keys`, its `{keys}` replaced by the chunk's
/// placeholders (numbered after `fixed`, which every run binds first); answers the rows.
pub async fn fetch_in<R>(
    tx: &mut ReadModelTx<'_>,
    template: &str,
    fixed: &[Param],
    keys: &[String],
) -> Result<Vec<R>, sqlx::Error>
where
    R: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
{
    let mut rows = Vec::new();
    for chunk in keys.chunks(MAX_PARAMS) {
        let sql = template.replace("{keys}", &placeholders(fixed.len() + 1, chunk.len()));
        let params = fixed
            .iter()
            .cloned()
            .chain(chunk.iter().cloned().map(Param::from))
            .collect();
        rows.extend(fetch_with::<R>(tx, &sql, params).await?);
    }
    Ok(rows)
}

/// Runs `template` (a `DELETE … WHERE key IN ({keys})`) over `keys`, chunked.
pub async fn delete_in(
    tx: &mut ReadModelTx<'_>,
    template: &str,
    keys: &[String],
) -> Result<(), sqlx::Error> {
    for chunk in keys.chunks(MAX_PARAMS) {
        let sql = template.replace("{keys}", &placeholders(1, chunk.len()));
        execute_with(tx, &sql, chunk.iter().cloned().map(Param::from).collect()).await?;
    }
    Ok(())
}

/// The events of one aggregate type grouped by aggregate id, each group in log order and
/// the groups in the order their first events came.
pub fn by_aggregate<'e>(
    events: &'e [RecordedEvent],
    aggregate_type: &str,
) -> Vec<(&'e str, Vec<&'e RecordedEvent>)> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut groups: Vec<(&str, Vec<&RecordedEvent>)> = Vec::new();
    for event in events
        .iter()
        .filter(|event| event.aggregate_type == aggregate_type)
    {
        let id = event.aggregate_id.as_str();
        let slot = *index.entry(id).or_insert_with(|| {
            groups.push((id, Vec::new()));
            groups.len() - 1
        });
        groups[slot].1.push(event);
    }
    groups
}

/// The ids of `groups`, owned, for `fetch_in` and `delete_in`.
pub fn ids_of(groups: &[(&str, Vec<&RecordedEvent>)]) -> Vec<String> {
    groups.iter().map(|(id, _)| (*id).to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::placeholders;

    #[test]
    fn placeholders_number_on_from_the_first() {
        assert_eq!(placeholders(3, 3), "$3, $4, $5");
        assert_eq!(placeholders(1, 0), "");
    }
}
