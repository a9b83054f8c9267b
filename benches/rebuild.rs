//! Rebuilding the read models from a long log: `projections rebuild NAME` of every
//! projection (what `rebuild all` runs, one after the other) over a fresh database holding
//! `SCOREMATE_BENCH_EVENTS` events (default 1,000,000) of a realistic mix, beside two reads
//! of the same log in the same run: a plain `SELECT` of the `events` table in position
//! order, page by page (the floor any rebuild pays), and the log reader the projections use
//! (`EventLog::read_after`: the same pages, JSON decoded, PostgreSQL's commit-order guard).
//!
//! `cargo bench -p benches --bench rebuild` (bench profile) — PostgreSQL from
//! `SCOREMATE_BENCH_DATABASE_URL` (default: the local server; a database of its own is
//! created and dropped; skipped with a notice when unreachable). `SCOREMATE_BENCH_EVENTS`
//! sets the log's length (default 1000000), `SCOREMATE_BENCH_BACKENDS` (`sqlite,postgres`)
//! and `SCOREMATE_BENCH_PROJECTIONS` (`all`, or names) narrow a run.
//!
//! The history is the tests' mixed history of seed 0 (`testkit::mixed_history`):
//! users who register, log in, get a quota, upload scores (confirmed, edited, deleted,
//! expired, cancelled, rejected) and arrange setlists, every command decided by the real
//! aggregate on its real state, users' lives interleaved in the log, the rows written with
//! multi-row `INSERT`s in large transactions instead of one commit per command.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use eventstore::{Database, DatabaseOptions, EventLog, LogCursor};
use projections::PROJECTION_NAMES;
use testkit::mixed_history::write_mixed_history_measured;
use uuid::Uuid;

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Page size of both baselines: the rebuild's own batch (`projections/src/rebuild.rs`).
const PAGE: u32 = 2_000;

const SQLITE_PAGE: &str = "SELECT position, aggregate_type, aggregate_id, sequence, event_type, \
    event_version, payload, metadata, recorded_at FROM events WHERE position > $1 \
    ORDER BY position LIMIT $2";
const POSTGRES_PAGE: &str = "SELECT position, aggregate_type, aggregate_id, sequence, event_type, \
    event_version, payload::text, metadata::text, recorded_at FROM events WHERE position > $1 \
    ORDER BY position LIMIT $2";

type SqliteRow = (
    i64,
    String,
    String,
    i64,
    String,
    String,
    String,
    String,
    String,
);
type PostgresRow = (
    i64,
    String,
    String,
    i64,
    String,
    String,
    String,
    String,
    DateTime<Utc>,
);

/// Baseline: every row of `events` in position order, `PAGE` rows a query (keyset
/// pagination), each column decoded into an owned value but the JSON left as text.
async fn select_all(database: &Database) -> BenchResult<u64> {
    let mut after = 0_i64;
    let mut read = 0_u64;
    loop {
        let last = match database {
            Database::Sqlite(pool) => {
                let page: Vec<SqliteRow> = sqlx::query_as(SQLITE_PAGE)
                    .bind(after)
                    .bind(i64::from(PAGE))
                    .fetch_all(pool)
                    .await?;
                read += page.len() as u64;
                page.last().map(|row| row.0)
            }
            Database::Postgres(pool) => {
                let page: Vec<PostgresRow> = sqlx::query_as(POSTGRES_PAGE)
                    .bind(after)
                    .bind(i64::from(PAGE))
                    .fetch_all(pool)
                    .await?;
                read += page.len() as u64;
                page.last().map(|row| row.0)
            }
        };
        match last {
            Some(position) => after = position,
            None => return Ok(read),
        }
    }
}

/// Second reference: the log reader every projection runs, the same page size.
async fn read_log(database: &Database) -> BenchResult<u64> {
    let log = EventLog::new(database.clone());
    let mut cursor = LogCursor::START;
    let mut read = 0_u64;
    loop {
        let page = log.read_after(cursor, PAGE).await?;
        let Some(last) = page.last() else {
            return Ok(read);
        };
        cursor = last.cursor;
        read += page.len() as u64;
    }
}

fn rate(events: u64, elapsed: Duration) -> f64 {
    events as f64 / elapsed.as_secs_f64().max(1e-9)
}

async fn timed<F: Future<Output = BenchResult<u64>>>(run: F) -> BenchResult<(u64, Duration)> {
    let started = Instant::now();
    let read = run.await?;
    Ok((read, started.elapsed()))
}

async fn run_backend(
    name: &str,
    database: Database,
    events: u64,
    projections_to_rebuild: &[&'static str],
) -> BenchResult<()> {
    database.migrate().await?;
    let seeded = write_mixed_history_measured(&database, events, 0).await?;
    let written = seeded.events;
    println!(
        "{name:<9} seeded {written} events of {} users: deciding and serialising {:.1} s, \
         INSERTs {:.1} s ({:.0} events/s)",
        seeded.users,
        seeded.deciding.as_secs_f64(),
        seeded.inserting.as_secs_f64(),
        rate(written, seeded.inserting)
    );
    if let Database::Postgres(pool) = &database {
        // What autovacuum would do some time after such a load: planner statistics.
        sqlx::query("VACUUM ANALYZE events").execute(pool).await?;
    }

    // Untimed: brings the table into the page cache for every contender alike.
    select_all(&database).await?;
    let (read, select_before) = timed(select_all(&database)).await?;
    if read != written {
        return Err(format!("the SELECT read {read} of {written} events").into());
    }
    let (read, log_reader) = timed(read_log(&database)).await?;
    if read != written {
        return Err(format!("the log reader read {read} of {written} events").into());
    }

    let select_rate = rate(written, select_before);
    println!(
        "{name:<9} baseline: SELECT by position in pages of {PAGE}: {:.1} s, {select_rate:.0} events/s",
        select_before.as_secs_f64(),
    );
    println!(
        "{name:<9} log reader (EventLog::read_after):  {:.1} s, {:.0} events/s, {:.3}x the SELECT",
        log_reader.as_secs_f64(),
        rate(written, log_reader),
        rate(written, log_reader) / select_rate
    );
    // Printed as each one ends: a long run interrupted still leaves its figures.
    let mut all = Duration::ZERO;
    for projection in projections_to_rebuild {
        let started = Instant::now();
        let report = projections::rebuild_named(projection, &database, |_| {}).await?;
        let elapsed = started.elapsed();
        if report.applied != written {
            return Err(format!("{projection} applied {} of {written}", report.applied).into());
        }
        all += elapsed;
        println!(
            "{name:<9} rebuild {projection:<18} {:>7.1} s {:>8.0} events/s {:>7.4}x the SELECT",
            elapsed.as_secs_f64(),
            rate(written, elapsed),
            rate(written, elapsed) / select_rate
        );
    }
    println!(
        "{name:<9} rebuild, all of the above  {:>7.1} s {:>8.0} events/s {:>7.4}x the SELECT",
        all.as_secs_f64(),
        rate(written, all),
        rate(written, all) / select_rate
    );
    if projections_to_rebuild.len() == projections::PROJECTION_NAMES.len() {
        // What `projections rebuild all` does: one pass, each batch applied by all eight.
        let started = Instant::now();
        let reports = projections::rebuild_all(&database, |_, _| {}).await?;
        let together = started.elapsed();
        if let Some((projection, report)) =
            reports.iter().find(|(_, report)| report.applied != written)
        {
            return Err(format!("{projection} applied {} of {written}", report.applied).into());
        }
        println!(
            "{name:<9} rebuild all (one pass, eight)  {:>7.1} s {:>8.0} events/s {:>7.4}x the SELECT",
            together.as_secs_f64(),
            rate(written, together),
            rate(written, together) / select_rate
        );
    }
    // The same SELECT again: how much the machine's load moved meanwhile.
    let (_, select_after) = timed(select_all(&database)).await?;
    println!(
        "{name:<9} baseline again after the rebuilds: {:.1} s, {:.0} events/s",
        select_after.as_secs_f64(),
        rate(written, select_after)
    );
    database.close().await;
    Ok(())
}

#[tokio::main]
async fn main() -> BenchResult<()> {
    let events = std::env::var("SCOREMATE_BENCH_EVENTS")
        .ok()
        .and_then(|raw| raw.parse().ok())
        .unwrap_or(1_000_000_u64);
    let list = |name: &str, default: &str| -> Vec<String> {
        std::env::var(name)
            .unwrap_or_else(|_| default.to_owned())
            .split(',')
            .map(|item| item.trim().to_owned())
            .filter(|item| !item.is_empty())
            .collect()
    };
    let backends = list("SCOREMATE_BENCH_BACKENDS", "sqlite,postgres");
    let mut chosen = Vec::new();
    for wanted in list("SCOREMATE_BENCH_PROJECTIONS", "all") {
        if wanted == "all" {
            chosen.extend(PROJECTION_NAMES);
        } else {
            chosen.push(projections::projection_name(&wanted)?);
        }
    }
    let options = DatabaseOptions::default();

    if backends.iter().any(|backend| backend == "sqlite") {
        sqlite(events, &chosen, &options).await?;
    }
    if backends.iter().any(|backend| backend == "postgres") {
        postgres(events, &chosen, &options).await?;
    }
    Ok(())
}

/// A fresh SQLite file in a temporary folder, removed afterwards.
async fn sqlite(
    events: u64,
    projections_to_rebuild: &[&'static str],
    options: &DatabaseOptions,
) -> BenchResult<()> {
    let dir = std::env::temp_dir().join(format!("scoremate-bench-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    let sqlite_url = format!("sqlite://{}", dir.join("bench.db").display());
    let result = match Database::connect(&sqlite_url, options).await {
        Ok(database) => run_backend("sqlite", database, events, projections_to_rebuild).await,
        Err(error) => Err(error.into()),
    };
    std::fs::remove_dir_all(&dir)?;
    result
}

/// A fresh PostgreSQL database on `SCOREMATE_BENCH_DATABASE_URL`'s server, dropped
/// afterwards; skipped with a notice when the server is unreachable.
async fn postgres(
    events: u64,
    projections_to_rebuild: &[&'static str],
    options: &DatabaseOptions,
) -> BenchResult<()> {
    let Some(mut postgres) = benches::ScratchServer::connect().await else {
        return Ok(());
    };
    let database = postgres.create("rebuild").await?;
    let result = match Database::connect(&database.url, options).await {
        Ok(database) => run_backend("postgres", database, events, projections_to_rebuild).await,
        Err(error) => Err(error.into()),
    };
    postgres.drop_database(database).await?;
    result
}
