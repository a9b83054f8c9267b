//! Read queries built at run time (filters, orderings) with the same SQL and arguments on
//! either backend.

use chrono::{DateTime, NaiveDate, Utc};
use eventstore::Database;
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

/// One bound argument: ids and text as strings, numbers as `i64`, instants as
/// `DateTime<Utc>` (as the read models store them), so both drivers encode them alike.
#[derive(Debug, Clone)]
pub enum Arg {
    Text(String),
    Int(i64),
    Time(DateTime<Utc>),
    Date(NaiveDate),
}

/// Query arguments that hand out their own `$n` placeholders.
#[derive(Debug, Clone, Default)]
pub struct Args(Vec<Arg>);

impl Args {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an argument and answers its placeholder (`$1`, `$2`, …).
    pub fn push(&mut self, arg: Arg) -> String {
        self.0.push(arg);
        format!("${}", self.0.len())
    }

    pub fn text(&mut self, text: impl Into<String>) -> String {
        self.push(Arg::Text(text.into()))
    }

    pub fn int(&mut self, value: i64) -> String {
        self.push(Arg::Int(value))
    }

    pub fn time(&mut self, value: DateTime<Utc>) -> String {
        self.push(Arg::Time(value))
    }

    pub fn date(&mut self, value: NaiveDate) -> String {
        self.push(Arg::Date(value))
    }
}

macro_rules! bind_all {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in &$args.0 {
            query = match arg {
                Arg::Text(text) => query.bind(text.clone()),
                Arg::Int(value) => query.bind(*value),
                Arg::Time(value) => query.bind(*value),
                Arg::Date(value) => query.bind(*value),
            };
        }
        query
    }};
}

/// Every row of `sql` as `R`.
pub async fn fetch_all<R>(
    database: &Database,
    sql: &str,
    args: &Args,
) -> Result<Vec<R>, sqlx::Error>
where
    R: for<'r> sqlx::FromRow<'r, SqliteRow> + for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
{
    match database {
        Database::Sqlite(pool) => {
            bind_all!(sqlx::query_as::<_, R>(sql), args)
                .fetch_all(pool)
                .await
        }
        Database::Postgres(pool) => {
            bind_all!(sqlx::query_as::<_, R>(sql), args)
                .fetch_all(pool)
                .await
        }
    }
}

/// The single number `sql` selects (a `count(*)`, say).
pub async fn fetch_count(database: &Database, sql: &str, args: &Args) -> Result<i64, sqlx::Error> {
    match database {
        Database::Sqlite(pool) => {
            bind_all!(sqlx::query_scalar::<_, i64>(sql), args)
                .fetch_one(pool)
                .await
        }
        Database::Postgres(pool) => {
            bind_all!(sqlx::query_scalar::<_, i64>(sql), args)
                .fetch_one(pool)
                .await
        }
    }
}

/// `%` and `_` match themselves in a search; the text is case-folded like the stored
/// `*_folded` columns. Use with `LIKE … ESCAPE '\'`.
pub fn contains_pattern(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + 2);
    escaped.push('%');
    for c in projections::fold(text).chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped.push('%');
    escaped
}

/// What a column of a keyset ordering holds, as a cursor carries it (JSON) and as it is
/// bound back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Text,
    /// An instant, as RFC 3339 text.
    Time,
    /// A calendar date (`YYYY-MM-DD`), or null.
    Date,
    Int,
}

/// One column of an ordering that a cursor can resume: an expression over the row, its
/// direction, its kind.
#[derive(Debug, Clone, Copy)]
pub struct KeyColumn {
    pub expression: &'static str,
    pub descending: bool,
    pub kind: KeyKind,
}

impl KeyColumn {
    pub const fn new(expression: &'static str, descending: bool, kind: KeyKind) -> Self {
        Self {
            expression,
            descending,
            kind,
        }
    }

    /// The value bound for `value`, or `None` for a JSON null; `Err` when it is not of
    /// this column's kind.
    fn bind(self, value: &Value, args: &mut Args) -> Result<Option<String>, ()> {
        if value.is_null() {
            return Ok(None);
        }
        let bound = match self.kind {
            KeyKind::Text => args.text(value.as_str().ok_or(())?),
            KeyKind::Int => args.int(value.as_i64().ok_or(())?),
            KeyKind::Time => {
                let instant =
                    DateTime::parse_from_rfc3339(value.as_str().ok_or(())?).map_err(|_| ())?;
                args.time(instant.with_timezone(&Utc))
            }
            KeyKind::Date => args.date(value.as_str().ok_or(())?.parse().map_err(|_| ())?),
        };
        Ok(Some(bound))
    }
}

/// `ORDER BY` of `columns`, or (`backwards`) the reverse.
pub fn order_by(columns: &[KeyColumn], backwards: bool) -> String {
    let terms: Vec<String> = columns
        .iter()
        .map(|column| {
            let descending = column.descending != backwards;
            format!(
                "{} {}",
                column.expression,
                if descending { "DESC" } else { "ASC" }
            )
        })
        .collect();
    terms.join(", ")
}

/// The condition (`(…)`) of the rows after (`backwards`: before) the row whose ordering key
/// is `key`, in the order of `columns`; `None` when `key` is not one of theirs. Columns all
/// in one direction compare as a row (`(a, b) > (x, y)`), which both databases bound an
/// index scan with; others are written out column by column (`a > x OR (a = x AND b > y)
/// …`), each in its own direction. A null key value equals only null and orders nothing
/// (the ordering must put nulls apart, as a leading `… IS NULL` column does).
pub fn beyond(
    columns: &[KeyColumn],
    key: &[Value],
    backwards: bool,
    args: &mut Args,
) -> Option<String> {
    let first = columns.first()?;
    if key.len() != columns.len() {
        return None;
    }
    let one_direction = columns
        .iter()
        .all(|column| column.descending == first.descending);
    if one_direction && !key.iter().any(Value::is_null) {
        let mut bound = Vec::new();
        for (column, value) in columns.iter().zip(key) {
            bound.push(column.bind(value, args).ok()??);
        }
        let expressions: Vec<&str> = columns.iter().map(|column| column.expression).collect();
        let comparison = if first.descending != backwards {
            "<"
        } else {
            ">"
        };
        return Some(format!(
            "(({}) {comparison} ({}))",
            expressions.join(", "),
            bound.join(", ")
        ));
    }
    let mut equal_so_far: Vec<String> = Vec::new();
    let mut alternatives: Vec<String> = Vec::new();
    for (column, value) in columns.iter().zip(key) {
        let bound = column.bind(value, args).ok()?;
        let expression = column.expression;
        if let Some(bound) = &bound {
            let comparison = if column.descending != backwards {
                "<"
            } else {
                ">"
            };
            let mut terms = equal_so_far.clone();
            terms.push(format!("{expression} {comparison} {bound}"));
            alternatives.push(format!("({})", terms.join(" AND ")));
        }
        equal_so_far.push(match &bound {
            Some(bound) => format!("{expression} = {bound}"),
            None => format!("{expression} IS NULL"),
        });
    }
    Some(format!("({})", alternatives.join(" OR ")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn one_direction_compares_as_a_row_mixed_ones_column_by_column() {
        let same = [
            KeyColumn::new("updated_at", true, KeyKind::Time),
            KeyColumn::new("id", true, KeyKind::Text),
        ];
        let key = [json!("2026-01-01T00:00:00Z"), json!("a")];
        let mut args = Args::new();
        assert_eq!(
            beyond(&same, &key, false, &mut args).as_deref(),
            Some("((updated_at, id) < ($1, $2))")
        );
        assert_eq!(
            beyond(&same, &key, true, &mut Args::new()).as_deref(),
            Some("((updated_at, id) > ($1, $2))")
        );
        let undated_last = [
            KeyColumn::new("undated", false, KeyKind::Int),
            KeyColumn::new("event_date", true, KeyKind::Date),
            KeyColumn::new("id", true, KeyKind::Text),
        ];
        let dated = [json!(0), json!("2026-05-01"), json!("b")];
        assert_eq!(
            beyond(&undated_last, &dated, false, &mut Args::new()).as_deref(),
            Some(
                "((undated > $1) OR (undated = $1 AND event_date < $2) \
                 OR (undated = $1 AND event_date = $2 AND id < $3))"
            )
        );
        let undated = [json!(1), json!(null), json!("c")];
        assert_eq!(
            beyond(&undated_last, &undated, false, &mut Args::new()).as_deref(),
            Some("((undated > $1) OR (undated = $1 AND event_date IS NULL AND id < $2))")
        );
        // Not a key of these columns.
        assert_eq!(
            beyond(&same, &[json!(5), json!("a")], false, &mut Args::new()),
            None
        );
        assert_eq!(beyond(&same, &[json!("x")], false, &mut Args::new()), None);
    }
}
