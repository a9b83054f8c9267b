//! Set-based statements for applying a batch of events: the touched rows read with one
//! `IN (…)` per table, written back with multi-row `VALUES`, whose value lists are only
//! known at run time, bound alike on both backends.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use eventstore::RecordedEvent;
use serde_json::Value;
use serde_json::value::RawValue;
use sqlx::FromRow;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::types::Oid;
use sqlx::postgres::{PgArgumentBuffer, PgRow, PgTypeInfo, Postgres};
use sqlx::sqlite::{Sqlite, SqliteArgumentValue, SqliteRow, SqliteTypeInfo};

use crate::transaction::ReadModelTx;

/// One bound value, typed as the single-row statements bind it.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Text(Option<String>),
    Int(Option<i64>),
    Json(Option<Value>),
    /// JSON already written out (a serialised aggregate state): bound as JSON, its text
    /// as it is, without a `Value` tree made to be written out again.
    RawJson(Option<JsonText>),
    Time(Option<DateTime<Utc>>),
    Date(Option<NaiveDate>),
}

/// JSON text, equal to another when the text is. Bound as `json` on PostgreSQL (the
/// text, validated, not parsed into `jsonb`: the working copies of aggregates are never
/// queried inside) and as text on SQLite.
#[derive(Debug, Clone)]
pub struct JsonText(pub Box<RawValue>);

impl PartialEq for JsonText {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

/// PostgreSQL's `json` type.
const JSON_OID: Oid = Oid(114);

impl sqlx::Type<Postgres> for JsonText {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(JSON_OID)
    }
}

impl sqlx::Encode<'_, Postgres> for JsonText {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        // `json`'s binary form is its text.
        buf.extend_from_slice(self.0.get().as_bytes());
        Ok(IsNull::No)
    }
}

impl sqlx::Type<Sqlite> for JsonText {
    fn type_info() -> SqliteTypeInfo {
        <String as sqlx::Type<Sqlite>>::type_info()
    }
}

impl<'q> sqlx::Encode<'q, Sqlite> for JsonText {
    fn encode_by_ref(&self, buf: &mut Vec<SqliteArgumentValue<'q>>) -> Result<IsNull, BoxDynError> {
        <String as sqlx::Encode<'q, Sqlite>>::encode(self.0.get().to_owned(), buf)
    }
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
    RawJson: JsonText,
    Time: DateTime<Utc>,
    Date: NaiveDate,
);

/// Values per statement: well under SQLite's 32,766 and PostgreSQL's 65,535 binds, and
/// few enough that parsing a statement stays a small part of running it.
const MAX_PARAMS: usize = 4_000;

macro_rules! bound {
    ($query:expr, $params:expr) => {{
        let mut query = $query;
        for param in $params {
            query = match param {
                Param::Text(value) => query.bind(value),
                Param::Int(value) => query.bind(value),
                Param::Json(value) => query.bind(value),
                Param::RawJson(value) => query.bind(value),
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

/// How a backend marks a statement's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marks {
    /// `$1, $2, …` (PostgreSQL).
    Numbered,
    /// `?, ?, …` in order (SQLite): a numbered or named value costs SQLite a walk of its
    /// list of names for every value bound, quadratic in a statement of thousands.
    Anonymous,
}

impl Marks {
    fn of(tx: &ReadModelTx<'_>) -> Self {
        match tx {
            ReadModelTx::Sqlite(..) => Self::Anonymous,
            ReadModelTx::Postgres(_) => Self::Numbered,
        }
    }

    /// The marks of `count` values, the first being value number `first`.
    fn list(self, first: usize, count: usize) -> String {
        let marks: Vec<String> = match self {
            Self::Numbered => (first..first + count)
                .map(|number| format!("${number}"))
                .collect(),
            Self::Anonymous => vec!["?".to_owned(); count],
        };
        marks.join(", ")
    }

    /// The marks of `count` values as one-column rows (`($1), ($2), …`), for a `VALUES`
    /// list whose column both backends call `column1`.
    fn rows(self, first: usize, count: usize) -> String {
        let list = self.list(first, count);
        if list.is_empty() {
            return list;
        }
        format!("({})", list.replace(", ", "), ("))
    }

    /// `sql` written with `$1`, `$2`, … (each once, in that order) in this backend's marks.
    fn translate(self, sql: &str) -> String {
        match self {
            Self::Numbered => sql.to_owned(),
            Self::Anonymous => {
                let mut translated = String::with_capacity(sql.len());
                let mut chars = sql.chars().peekable();
                while let Some(char) = chars.next() {
                    if char == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
                        while chars.peek().is_some_and(char::is_ascii_digit) {
                            chars.next();
                        }
                        translated.push('?');
                    } else {
                        translated.push(char);
                    }
                }
                translated
            }
        }
    }
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
        let marks = Marks::of(tx);
        let tuples: Vec<String> = (0..chunk.len())
            .map(|row| format!("({})", marks.list(row * width + 1, width)))
            .collect();
        let sql = format!("{head} {} {tail}", tuples.join(", "));
        execute_with(tx, &sql, chunk.into_iter().flatten().collect()).await?;
    }
    Ok(())
}

/// Runs `template` once per chunk of `keys`, its `{keys}` replaced by the chunk's marks
/// and `{key_rows}` by the same as one-column rows (after `fixed`, which every run binds
/// first, written `$1`, `$2`, … in that order before them); answers the rows.
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
        let marks = Marks::of(tx);
        let sql = marks
            .translate(template)
            .replace("{keys}", &marks.list(fixed.len() + 1, chunk.len()))
            .replace("{key_rows}", &marks.rows(fixed.len() + 1, chunk.len()));
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
        let sql = template.replace("{keys}", &Marks::of(tx).list(1, chunk.len()));
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
    use super::Marks;

    #[test]
    fn numbered_marks_count_on_from_the_first_and_anonymous_ones_do_not_count() {
        assert_eq!(Marks::Numbered.list(3, 3), "$3, $4, $5");
        assert_eq!(Marks::Anonymous.list(3, 3), "?, ?, ?");
        assert_eq!(Marks::Numbered.list(1, 0), "");
        assert_eq!(Marks::Numbered.rows(2, 2), "($2), ($3)");
        assert_eq!(Marks::Anonymous.rows(1, 3), "(?), (?), (?)");
    }

    #[test]
    fn numbered_marks_become_anonymous_ones_in_order() {
        let sql = "SELECT a FROM t WHERE d >= $1 AND d <= $2 AND price = '$x' AND u IN ({keys})";
        assert_eq!(
            Marks::Anonymous.translate(sql),
            "SELECT a FROM t WHERE d >= ? AND d <= ? AND price = '$x' AND u IN ({keys})"
        );
        assert_eq!(Marks::Numbered.translate(sql), sql);
    }
}
