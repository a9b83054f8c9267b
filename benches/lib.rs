//! Benchmarks of ScoreMate, each measured beside a baseline taken in the same run.
//! Run them with `cargo bench -p benches`; see `docs/benchmarks.md`.

use std::time::Duration;

use sqlx::{Connection, PgConnection};

/// The PostgreSQL server the benchmarks create their throwaway databases on:
/// `SCOREMATE_BENCH_DATABASE_URL` (an admin URL), by default the local server.
pub struct ScratchServer {
    admin: PgConnection,
    /// The admin URL without its database name.
    server: String,
}

/// A database made for one benchmark run.
pub struct ScratchDatabase {
    name: String,
    pub url: String,
}

impl ScratchServer {
    /// `None`, after a notice, when the server is unreachable: the PostgreSQL figures are
    /// then skipped.
    pub async fn connect() -> Option<Self> {
        let admin_url = std::env::var("SCOREMATE_BENCH_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let Ok(admin) = PgConnection::connect(&admin_url).await else {
            println!("postgres skipped: {admin_url} unreachable");
            return None;
        };
        let server = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(server, _)| server)
            .to_owned();
        Some(Self { admin, server })
    }

    /// Creates `scoremate_bench_{label}_{process id}`.
    pub async fn create(&mut self, label: &str) -> Result<ScratchDatabase, sqlx::Error> {
        let name = format!("scoremate_bench_{label}_{}", std::process::id());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut self.admin)
            .await?;
        let url = format!("{}/{name}", self.server);
        Ok(ScratchDatabase { name, url })
    }

    /// Drops `database`, closing whatever connections to it are left.
    pub async fn drop_database(&mut self, database: ScratchDatabase) -> Result<(), sqlx::Error> {
        sqlx::query(&format!("DROP DATABASE {} WITH (FORCE)", database.name))
            .execute(&mut self.admin)
            .await?;
        Ok(())
    }
}

/// Nearest-rank percentiles of a set of timings.
#[derive(Debug, Clone, Copy, Default)]
pub struct Percentiles {
    pub p50: Duration,
    pub p95: Duration,
    pub p99: Duration,
}

/// Nearest-rank percentiles of `samples` (zeros when there are none).
pub fn percentiles(mut samples: Vec<Duration>) -> Percentiles {
    samples.sort_unstable();
    let rank = |p: usize| {
        let index = (samples.len() * p).div_ceil(100).saturating_sub(1);
        samples.get(index).copied().unwrap_or_default()
    };
    Percentiles {
        p50: rank(50),
        p95: rank(95),
        p99: rank(99),
    }
}
