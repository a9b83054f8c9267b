//! Read queries built at run time (filters, orderings) with the same SQL and arguments on
//! either backend.

use chrono::{DateTime, Utc};
use eventstore::Database;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

/// One bound argument: ids and text as strings, numbers as `i64`, instants as
/// `DateTime<Utc>` (as the read models store them), so both drivers encode them alike.
#[derive(Debug, Clone)]
pub enum Arg {
    Text(String),
    Int(i64),
    Time(DateTime<Utc>),
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
}

macro_rules! bind_all {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in &$args.0 {
            query = match arg {
                Arg::Text(text) => query.bind(text.clone()),
                Arg::Int(value) => query.bind(*value),
                Arg::Time(value) => query.bind(*value),
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
