//! Benchmarks of ScoreMate, each measured beside a baseline taken in the same run.
//! Run them with `cargo bench -p benches`; see `docs/benchmarks.md`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use eventstore::Database;
use scoremate::app::Application;
use scoremate::cli::args::Cli;
use scoremate::routes::router;
use sqlx::{Connection, PgConnection};
use tokio::sync::oneshot;

pub type BenchError = Box<dyn std::error::Error + Send + Sync>;

/// The application's routes serving on a free port in this process: built through the
/// binary's settings parser (`Application::build`: connect, migrate, services, embedded
/// S3 on port 0, a temporary data dir; throttling off) and served by the server's own
/// `serve` loop on a listener of ours.
pub struct InProcessServer {
    pub address: SocketAddr,
    pub client: reqwest::Client,
    pub database: Database,
    data_dir: PathBuf,
    shutdown: oneshot::Sender<()>,
    serving: tokio::task::JoinHandle<()>,
    /// Built but never run: its `run_until` would also start the background followers,
    /// whose backlog of seeded events would run during the measurements.
    _app: Application,
}

impl InProcessServer {
    /// # Errors
    /// When the settings, the database or a listener fail.
    pub async fn start(database_url: &str) -> Result<Self, BenchError> {
        let data_dir =
            std::env::temp_dir().join(format!("scoremate-bench-app-{}", uuid::Uuid::new_v4()));
        let data_dir_arg = data_dir.display().to_string();
        let cli = Cli::try_parse_from([
            "scoremate",
            "--bind",
            "127.0.0.1:0",
            "--data-dir",
            &data_dir_arg,
            "--database-url",
            database_url,
            "--throttle-anon-per-hour",
            "0",
            "--throttle-user-per-hour",
            "0",
            "--embedded-s3-bind",
            "127.0.0.1:0",
            "--metrics-bind",
            "127.0.0.1:0",
            "serve",
        ])?;
        let app = Application::build(cli.settings).await?;
        let state = app.state().clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (shutdown, stopped) = oneshot::channel::<()>();
        let serving = tokio::spawn(scoremate::http::server::serve(
            listener,
            warp::service(router(state.clone())),
            async {
                let _ = stopped.await;
            },
        ));
        Ok(Self {
            address,
            client: reqwest::Client::new(),
            database: state.database.clone(),
            data_dir,
            shutdown,
            serving,
            _app: app,
        })
    }

    /// `http://address` and the path.
    #[must_use]
    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.address)
    }

    pub async fn stop(self) {
        let _ = self.shutdown.send(());
        let _ = self.serving.await;
        self.database.close().await;
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

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
