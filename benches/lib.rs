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

/// SplitMix64: a deterministic, dependency-free stream of pseudo-random numbers, so every
/// run of a benchmark generates the same data.
pub struct Mix(pub u64);

impl Mix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `bound` (0 when `bound` is 0).
    pub fn below_u64(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound.max(1)
    }

    /// An index below `len` (0 when `len` is 0).
    pub fn below(&mut self, len: usize) -> usize {
        usize::try_from(self.below_u64(u64::try_from(len).unwrap_or(u64::MAX))).unwrap_or(0)
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below_u64(100) < percent
    }

    /// One entry of `from` ("" when it is empty).
    pub fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from.get(self.below(from.len()))
            .copied()
            .unwrap_or_default()
    }

    /// `count` distinct entries of `from`, in a random order.
    pub fn distinct(&mut self, from: &[&str], count: usize) -> Vec<String> {
        let mut pool: Vec<&str> = from.to_vec();
        (0..count.min(pool.len()))
            .map(|_| pool.swap_remove(self.below(pool.len())).to_owned())
            .collect()
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
