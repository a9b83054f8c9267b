//! Wiring: settings in, a running server out. Tests build the same `Application`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use eventstore::{Database, DatabaseOptions, StoreError};
use warp::Filter;

use crate::routes;
use crate::settings::Settings;

/// What request handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    pub database: Database,
    pub settings: Arc<Settings>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("could not create the data directory {path}")]
    DataDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("could not open the database")]
    Database(#[from] StoreError),
    #[error("could not bind the HTTP listener to {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Opens the configured database (creating the data dir for the embedded default).
pub async fn connect_database(settings: &Settings) -> Result<Database, StartupError> {
    std::fs::create_dir_all(&settings.data_dir).map_err(|source| StartupError::DataDir {
        path: settings.data_dir.display().to_string(),
        source,
    })?;
    let options = DatabaseOptions {
        max_connections: settings.database_max_connections,
        ..DatabaseOptions::default()
    };
    Ok(Database::connect(settings.database_url().expose(), &options).await?)
}

/// A bound, migrated, not yet serving API server.
pub struct Application {
    listener: tokio::net::TcpListener,
    local_addr: SocketAddr,
    state: AppState,
}

impl Application {
    /// Connects, migrates and binds; binding before serving lets tests use port 0.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let database = connect_database(&settings).await?;
        database.migrate().await?;
        let listener = tokio::net::TcpListener::bind(settings.bind)
            .await
            .map_err(|source| StartupError::Bind {
                addr: settings.bind,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| StartupError::Bind {
            addr: settings.bind,
            source,
        })?;
        Ok(Self {
            listener,
            local_addr,
            state: AppState {
                database,
                settings: Arc::new(settings),
            },
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then finishes the requests in flight.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let routes = routes::health::healthz().or(routes::health::readyz(self.state.clone()));
        tracing::info!(addr = %self.local_addr, backend = self.state.database.backend().name(), "serving");
        warp::serve(routes)
            .incoming(self.listener)
            .graceful(shutdown)
            .run()
            .await;
        self.state.database.close().await;
        tracing::info!("stopped");
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT: shutting down"),
        () = terminate => tracing::info!("SIGTERM: shutting down"),
    }
}
