//! Replaying a long quota history: `audit_quota` (one snapshot, the stream read and
//! decoded, the fold, the comparison with the read models) over a user with 10,000 ledger
//! events (decided by the real aggregate, appended in batches), beside the plain `SELECT`
//! of the same stream's rows in the same run (the floor any replay pays); then `audit
//! verify-all` (every user listed, each audited, a few at a time) over 10,000 users with
//! short histories, in a database of their own; on both backends.
//!
//! `cargo bench -p benches --bench audit` (bench profile) — PostgreSQL from
//! `SCOREMATE_BENCH_DATABASE_URL` (default: the local server; skipped with a notice when
//! unreachable). `SCOREMATE_BENCH_EVENTS` sets the history length (default 10000),
//! `SCOREMATE_BENCH_REPEAT` the timed runs of each (default 20); `SCOREMATE_BENCH_USERS`
//! the users of verify-all (default 10000; 0 skips it), `SCOREMATE_BENCH_USER_EVENTS`
//! their events each (default 4: set limit, reserve, release, reserve),
//! `SCOREMATE_BENCH_VERIFY_REPEAT` its timed runs (default 3, beside one run one user at
//! a time).

use std::time::{Duration, Instant};

use aggregates::UserId;
use audit::{CONCURRENT_AUDITS, Patience, audit_each, audit_quota, audited_users};
use eventstore::{Database, DatabaseOptions};
use projections::{
    OpenReservations, Projection, ProjectionRunner, QuotaBalances, QuotaLedger, Scores, Step,
};
use testkit::history::{append_quota_histories, append_quota_history};

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const STREAM: &str = "SELECT position, sequence, event_type, event_version, payload, metadata \
    FROM events WHERE aggregate_type = 'Quota' AND aggregate_id = $1 ORDER BY sequence";

/// Brings the read models the audit compares up to date, so it checks all four.
async fn project(database: &Database) -> BenchResult<()> {
    async fn drain<P: Projection>(runner: ProjectionRunner<P>) -> BenchResult<()> {
        while !matches!(runner.run_step().await?, Step::Idle) {}
        Ok(())
    }
    drain(ProjectionRunner::new(QuotaLedger, database.clone())).await?;
    drain(ProjectionRunner::new(QuotaBalances, database.clone())).await?;
    drain(ProjectionRunner::new(OpenReservations, database.clone())).await?;
    drain(ProjectionRunner::new(Scores, database.clone())).await?;
    Ok(())
}

async fn select_stream(database: &Database, user: &str) -> BenchResult<usize> {
    Ok(match database {
        Database::Sqlite(pool) => sqlx::query(STREAM).bind(user).fetch_all(pool).await?.len(),
        Database::Postgres(pool) => sqlx::query(STREAM).bind(user).fetch_all(pool).await?.len(),
    })
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

async fn run_backend(
    name: &str,
    database: Database,
    events: u64,
    repeat: usize,
) -> BenchResult<()> {
    database.migrate().await?;
    let user = UserId(uuid::Uuid::now_v7());
    append_quota_history(&database, user, events).await?;
    project(&database).await?;

    let mut baseline = Vec::new();
    let mut read = Vec::new();
    let mut replay = Vec::new();
    let log = eventstore::EventLog::new(database.clone());
    for _ in 0..repeat {
        let started = Instant::now();
        let rows = select_stream(&database, &user.to_string()).await?;
        baseline.push(started.elapsed());
        assert_eq!(rows as u64, events);

        let started = Instant::now();
        let stream = log.stream("Quota", &user.to_string()).await?;
        read.push(started.elapsed());
        assert_eq!(stream.len() as u64, events);

        let started = Instant::now();
        let audit = audit_quota(&database, user, None, Patience::NONE).await?;
        replay.push(started.elapsed());
        if audit.count != events || !audit.verified {
            return Err(format!("the replay disagrees: {:?}", audit.divergence).into());
        }
    }
    // Each run's audit over that run's SELECT, beside the ratio of the medians: the load of
    // a shared machine moves both alike within a run, less so across runs.
    let paired = |samples: &[Duration]| {
        let mut ratios: Vec<f64> = samples
            .iter()
            .zip(&baseline)
            .map(|(sample, select)| sample.as_secs_f64() / select.as_secs_f64().max(1e-9))
            .collect();
        ratios.sort_by(f64::total_cmp);
        ratios.get(ratios.len() / 2).copied().unwrap_or_default()
    };
    let (read_paired, replay_paired) = (paired(&read), paired(&replay));
    let (baseline, read, replay) = (median(baseline), median(read), median(replay));
    let ms = |duration: Duration| duration.as_secs_f64() * 1e3;
    let ratio = |duration: Duration| duration.as_secs_f64() / baseline.as_secs_f64().max(1e-9);
    println!(
        "{name:<9} {events} events: SELECT of the stream {:>7.1} ms (1.00×); \
         read as events (JSON parsed) {:>7.1} ms ({:.2}×, per run {:.2}×); audit (snapshot, \
         replay, verification against {events} ledger rows) {:>7.1} ms ({:.2}×, per run \
         {:.2}×, {:.0} events/s)",
        ms(baseline),
        ms(read),
        ratio(read),
        read_paired,
        ms(replay),
        ratio(replay),
        replay_paired,
        events as f64 / replay.as_secs_f64().max(1e-9),
    );
    Ok(())
}

/// What verify-all over many users measures.
#[derive(Debug, Clone, Copy)]
struct VerifyAll {
    users: u64,
    events_per_user: u64,
    repeat: usize,
}

/// `audit verify-all` as the CLI runs it (users listed, then audited `concurrency` at a
/// time, in order); the number of users, every one of them verified.
async fn verify_all(database: &Database, concurrency: usize) -> BenchResult<usize> {
    let users = audited_users(database).await?;
    let mut diverged = 0_usize;
    audit_each(database, &users, concurrency, |_, audit| {
        diverged += usize::from(!audit.verified);
    })
    .await?;
    if diverged > 0 {
        return Err(format!("{diverged} of {} users diverge", users.len()).into());
    }
    Ok(users.len())
}

async fn run_verify_all(name: &str, database: Database, plan: VerifyAll) -> BenchResult<()> {
    database.migrate().await?;
    let users: Vec<UserId> = (0..plan.users)
        .map(|_| UserId(uuid::Uuid::now_v7()))
        .collect();
    let started = Instant::now();
    append_quota_histories(&database, &users, plan.events_per_user).await?;
    project(&database).await?;
    let seeded = started.elapsed();

    let started = Instant::now();
    let audited = verify_all(&database, 1).await?;
    let sequential = started.elapsed();
    let mut samples = Vec::new();
    for _ in 0..plan.repeat {
        let started = Instant::now();
        verify_all(&database, CONCURRENT_AUDITS).await?;
        samples.push(started.elapsed());
    }
    let concurrent = median(samples);
    let per_second = |duration: Duration| audited as f64 / duration.as_secs_f64().max(1e-9);
    println!(
        "{name:<9} verify-all over {audited} users ({} events each; seeded and projected in \
         {:.1} s): {CONCURRENT_AUDITS} at a time {:>7.0} ms ({:.0} users/s); \
         one at a time {:>7.0} ms ({:.0} users/s)",
        plan.events_per_user,
        seeded.as_secs_f64(),
        concurrent.as_secs_f64() * 1e3,
        per_second(concurrent),
        sequential.as_secs_f64() * 1e3,
        per_second(sequential),
    );
    Ok(())
}

#[tokio::main]
async fn main() -> BenchResult<()> {
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|raw| raw.parse().ok())
            .unwrap_or(default)
    };
    let events = env("SCOREMATE_BENCH_EVENTS", 10_000);
    let repeat = usize::try_from(env("SCOREMATE_BENCH_REPEAT", 20))?;
    let plan = VerifyAll {
        users: env("SCOREMATE_BENCH_USERS", 10_000),
        events_per_user: env("SCOREMATE_BENCH_USER_EVENTS", 4),
        repeat: usize::try_from(env("SCOREMATE_BENCH_VERIFY_REPEAT", 3))?,
    };
    let options = DatabaseOptions::default();

    let dir = std::env::temp_dir().join(format!("scoremate-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    let sqlite_url = |file: &str| format!("sqlite://{}", dir.join(file).display());
    let sqlite = Database::connect(&sqlite_url("bench.db"), &options).await?;
    run_backend("sqlite", sqlite, events, repeat).await?;
    if plan.users > 0 {
        let sqlite = Database::connect(&sqlite_url("users.db"), &options).await?;
        run_verify_all("sqlite", sqlite, plan).await?;
    }
    std::fs::remove_dir_all(&dir)?;

    let Some(mut postgres) = benches::ScratchServer::connect().await else {
        return Ok(());
    };
    let database = postgres.create("audit").await?;
    let result = run_backend(
        "postgres",
        Database::connect(&database.url, &options).await?,
        events,
        repeat,
    )
    .await;
    postgres.drop_database(database).await?;
    result?;
    if plan.users > 0 {
        let database = postgres.create("audit_users").await?;
        let result = run_verify_all(
            "postgres",
            Database::connect(&database.url, &options).await?,
            plan,
        )
        .await;
        postgres.drop_database(database).await?;
        result?;
    }
    Ok(())
}
