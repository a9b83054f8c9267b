//! Benchmarks of ScoreMate, each measured beside a baseline taken in the same run.
//! Run them with `cargo bench -p benches`; see `docs/benchmarks.md`.

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
