//! The planner's statistics of the read models after they grew in bulk (PostgreSQL).
//!
//! Autovacuum analyses a table once a tenth of it changed, but only when it gets round to
//! it, and a read model can grow from nothing to a whole library in one catch-up or
//! rebuild. Until then the planner takes a user's 100,000 scores for one row and walks
//! them all through the owner's index where a GIN index would find the matches (a
//! filtered library count: 30–50 ms instead of 2–3). So the writer that makes a table
//! grow analyses it when it has changed by more rows than the planner knows of: at most
//! once per doubling.

use eventstore::Database;

/// Changes below this never call for an analysis (autovacuum's own threshold is 50).
const MIN_CHANGES: i64 = 1_000;

/// Analyses those of `tables` that changed by more rows than their statistics count.
pub async fn refresh_grown(database: &Database, tables: &[&str]) -> Result<(), sqlx::Error> {
    let Database::Postgres(pool) = database else {
        return Ok(());
    };
    let names: Vec<String> = tables.iter().map(|&table| table.to_owned()).collect();
    let grown: Vec<String> = sqlx::query_scalar(
        "SELECT stat.relname::text FROM pg_stat_user_tables AS stat \
         JOIN pg_class AS class ON class.oid = stat.relid \
         WHERE stat.schemaname = 'public' AND stat.relname = ANY ($1) \
           AND stat.n_mod_since_analyze >= $2 \
           AND stat.n_mod_since_analyze > greatest(class.reltuples, 0)",
    )
    .bind(&names)
    .bind(MIN_CHANGES)
    .fetch_all(pool)
    .await?;
    for table in grown {
        let sql = format!("ANALYZE public.\"{}\"", table.replace('"', "\"\""));
        sqlx::query(&sql).execute(pool).await?;
        tracing::info!(table, "analysed after bulk growth");
    }
    Ok(())
}
