//! `spawn_app`: the real application on a free port, with its own database.

use std::net::SocketAddr;

use clap::Parser;
use scoremate::cli::Cli;
use scoremate::startup::Application;
use tokio::sync::oneshot;

use crate::database::TestDatabase;

/// A running server and a client for it.
pub struct TestApp {
    pub address: SocketAddr,
    pub client: reqwest::Client,
    pub database: TestDatabase,
    pub data_dir: std::path::PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<()>,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .unwrap_or_else(|error| panic!("GET {path}: {error}"))
    }

    /// Stops the server gracefully and removes its database and data dir.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let _ = self.server.await;
        let _ = std::fs::remove_dir_all(&self.data_dir);
        self.database.cleanup().await;
    }
}

/// Starts the application on `127.0.0.1:0` over `database`, configured the way an
/// operator would: through the same settings parser, with a private data dir. Throttling
/// is off; see `spawn_app_with` to turn it on.
pub async fn spawn_app(database: TestDatabase) -> TestApp {
    spawn_app_with(database, &[]).await
}

/// `spawn_app` with extra command-line settings, e.g.
/// `&["--throttle-anon-per-hour", "3"]` (later flags override earlier ones).
pub async fn spawn_app_with(database: TestDatabase, extra: &[&str]) -> TestApp {
    let data_dir = std::env::temp_dir().join(format!("scoremate-app-{}", uuid::Uuid::new_v4()));
    let data_dir_arg = data_dir.display().to_string();
    let mut args = vec![
        "scoremate",
        "--bind",
        "127.0.0.1:0",
        "--data-dir",
        &data_dir_arg,
        "--database-url",
        &database.url,
        "--throttle-anon-per-hour",
        "0",
        "--throttle-user-per-hour",
        "0",
    ];
    args.extend_from_slice(extra);
    args.push("serve");
    let cli = Cli::try_parse_from(args).unwrap_or_else(|error| panic!("test settings: {error}"));
    let app = Application::build(cli.settings)
        .await
        .unwrap_or_else(|error| panic!("building the app: {error:?}"));
    let address = app.local_addr();
    let (shutdown, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    TestApp {
        address,
        client: reqwest::Client::new(),
        database,
        data_dir,
        shutdown: Some(shutdown),
        server,
    }
}
