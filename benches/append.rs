//! Raw append throughput of the event store on both backends, with 1 and 8 concurrent
//! writers, beside a plain single-row `INSERT` + `COMMIT` on the same database.
//!
//! `cargo bench -p benches --bench append` — PostgreSQL from `SCOREMATE_BENCH_DATABASE_URL`
//! (default: the local server); it is skipped with a notice when unreachable.
//! `SCOREMATE_BENCH_OPS` sets the operations per measurement (default 2000).

use std::sync::Arc;
use std::time::{Duration, Instant};

use aggregates::{Bytes, Quota, QuotaCommand, QuotaEvent};
use chrono::Utc;
use cqrs_es::persist::{PersistedEventRepository, SerializedEvent};
use eventstore::{
    Actor, AggregateStore, AnyEventRepository, Database, DatabaseOptions, EventMetadata,
    RetryPolicy, Storage,
};

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[derive(Clone, Copy)]
enum Workload {
    /// `INSERT INTO bench_baseline (payload) VALUES ($1)` in its own transaction.
    Baseline,
    /// One event appended through the cqrs-es repository (the event store's write path).
    Append,
    /// A whole command: load the aggregate, decide, append (a new aggregate each time).
    Command,
    /// PostgreSQL only: the alternative global-log design that serialises appends with a
    /// transaction-scoped advisory lock so that positions commit in order.
    SerializedAppend,
}

impl Workload {
    fn label(self) -> &'static str {
        match self {
            Self::Baseline => "baseline INSERT+COMMIT",
            Self::Append => "event store append",
            Self::Command => "command (load+decide+append)",
            Self::SerializedAppend => "append under advisory lock",
        }
    }
}

struct Bench {
    database: Database,
    repository: AnyEventRepository,
    quotas: AggregateStore<Quota>,
}

fn event_for(aggregate_id: &str) -> BenchResult<SerializedEvent> {
    let payload = serde_json::to_value(QuotaEvent::QuotaLimitSet {
        limit: Bytes(1_073_741_824),
    })?;
    let metadata = serde_json::to_value(
        EventMetadata::new(Actor::System, Utc::now())
            .with_request_id("bench")
            .to_map(),
    )?;
    Ok(SerializedEvent::new(
        aggregate_id.to_owned(),
        1,
        "Quota".to_owned(),
        "QuotaLimitSet".to_owned(),
        "2.0".to_owned(),
        payload,
        metadata,
    ))
}

const SERIALIZED_INSERT: &str = "
INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
VALUES ('Quota', $1, 1, 'QuotaLimitSet', '2.0', $2, $3)";

impl Bench {
    async fn operation(&self, workload: Workload) -> BenchResult<()> {
        let id = uuid::Uuid::new_v4().to_string();
        match workload {
            Workload::Baseline => {
                let payload = event_for(&id)?.payload;
                match &self.database {
                    Database::Sqlite(pool) => {
                        sqlx::query("INSERT INTO bench_baseline (payload) VALUES ($1)")
                            .bind(payload)
                            .execute(pool)
                            .await?;
                    }
                    Database::Postgres(pool) => {
                        sqlx::query("INSERT INTO bench_baseline (payload) VALUES ($1)")
                            .bind(payload)
                            .execute(pool)
                            .await?;
                    }
                }
            }
            Workload::Append => {
                self.repository
                    .persist::<Quota>(&[event_for(&id)?], None)
                    .await?;
            }
            Workload::Command => {
                let command = QuotaCommand::SetQuotaLimit {
                    limit: Bytes(1_073_741_824),
                };
                let metadata = EventMetadata::new(Actor::System, Utc::now());
                self.quotas.execute(&id, command, &metadata).await?;
            }
            Workload::SerializedAppend => {
                let Database::Postgres(pool) = &self.database else {
                    return Ok(());
                };
                let event = event_for(&id)?;
                let mut transaction = pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock(7)")
                    .execute(&mut *transaction)
                    .await?;
                sqlx::query(SERIALIZED_INSERT)
                    .bind(&id)
                    .bind(&event.payload)
                    .bind(&event.metadata)
                    .execute(&mut *transaction)
                    .await?;
                transaction.commit().await?;
            }
        }
        Ok(())
    }
}

async fn measure(
    bench: &Arc<Bench>,
    workload: Workload,
    writers: usize,
    ops: usize,
) -> BenchResult<f64> {
    let per_writer = ops / writers;
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|_| {
            let bench = Arc::clone(bench);
            tokio::spawn(async move {
                for _ in 0..per_writer {
                    bench.operation(workload).await?;
                }
                BenchResult::Ok(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let elapsed = started.elapsed().max(Duration::from_micros(1));
    #[allow(clippy::cast_precision_loss)]
    Ok((per_writer * writers) as f64 / elapsed.as_secs_f64())
}

async fn run_backend(name: &str, database: Database, ops: usize) -> BenchResult<()> {
    database.migrate().await?;
    let baseline_table = match &database {
        Database::Sqlite(_) => {
            "CREATE TABLE IF NOT EXISTS bench_baseline (id INTEGER PRIMARY KEY AUTOINCREMENT, payload TEXT NOT NULL)"
        }
        Database::Postgres(_) => {
            "CREATE TABLE IF NOT EXISTS bench_baseline (id bigserial PRIMARY KEY, payload jsonb NOT NULL)"
        }
    };
    match &database {
        Database::Sqlite(pool) => {
            sqlx::query(baseline_table).execute(pool).await?;
        }
        Database::Postgres(pool) => {
            sqlx::query(baseline_table).execute(pool).await?;
        }
    }
    let bench = Arc::new(Bench {
        repository: AnyEventRepository::new(&database),
        quotas: AggregateStore::new(&database, Storage::Snapshot(100), RetryPolicy::default()),
        database,
    });
    let mut workloads = vec![Workload::Baseline, Workload::Append, Workload::Command];
    if matches!(bench.database, Database::Postgres(_)) {
        workloads.push(Workload::SerializedAppend);
    }
    for writers in [1, 8] {
        // Warm the pool and caches so the first workload is not penalised.
        measure(&bench, Workload::Baseline, writers, writers * 20).await?;
        let mut baseline = None;
        for &workload in &workloads {
            let rate = measure(&bench, workload, writers, ops).await?;
            let base = *baseline.get_or_insert(rate);
            println!(
                "{name:<8} writers={writers} {:<30} {rate:>9.0} ops/s  {:>5.2}x baseline",
                workload.label(),
                rate / base
            );
        }
    }
    bench.database.close().await;
    Ok(())
}

#[tokio::main]
async fn main() -> BenchResult<()> {
    let ops = std::env::var("SCOREMATE_BENCH_OPS")
        .ok()
        .and_then(|raw| raw.parse().ok())
        .unwrap_or(2000_usize);
    let options = DatabaseOptions {
        max_connections: 16,
        ..DatabaseOptions::default()
    };

    let dir = std::env::temp_dir().join(format!("scoremate-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    let sqlite_url = format!("sqlite://{}", dir.join("bench.db").display());
    run_backend(
        "sqlite",
        Database::connect(&sqlite_url, &options).await?,
        ops,
    )
    .await?;
    std::fs::remove_dir_all(&dir)?;

    let Some(mut postgres) = benches::ScratchServer::connect().await else {
        return Ok(());
    };
    let database = postgres.create("append").await?;
    let result = run_backend(
        "postgres",
        Database::connect(&database.url, &options).await?,
        ops,
    )
    .await;
    postgres.drop_database(database).await?;
    result
}
