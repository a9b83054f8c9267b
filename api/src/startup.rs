//! Wiring: settings in, a running server out. Tests build the same `Application`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use aggregates::{Account, Quota, Session};
use eventstore::{AggregateStore, Database, DatabaseOptions, RetryPolicy, Storage, StoreError};
use warp::Filter;

use crate::auth::{Passwords, Tokens};
use crate::routes;
use crate::settings::Settings;
use crate::throttle::Throttle;

/// How many events pass between two snapshots of a quota ledger.
const QUOTA_SNAPSHOT_EVERY: usize = 100;

/// What request handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    pub database: Database,
    pub settings: Arc<Settings>,
    pub services: Arc<Services>,
}

/// The command side and the security machinery, built once at start.
pub struct Services {
    pub accounts: AggregateStore<Account>,
    pub sessions: AggregateStore<Session>,
    pub quotas: AggregateStore<Quota>,
    pub passwords: Passwords,
    pub tokens: Tokens,
    pub throttle: Throttle,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("tokens", &self.tokens)
            .field("throttle", &self.throttle)
            .finish_non_exhaustive()
    }
}

impl Services {
    pub async fn build(database: &Database, settings: &Settings) -> Result<Self, StartupError> {
        let retry = RetryPolicy::default();
        let jwt_secret = settings
            .resolve_jwt_secret()
            .map_err(|source| StartupError::DataDir {
                path: settings.jwt_secret_path().display().to_string(),
                source,
            })?;
        Ok(Self {
            accounts: AggregateStore::new(database, Storage::Events, retry),
            sessions: AggregateStore::new(database, Storage::Events, retry),
            quotas: AggregateStore::new(database, Storage::Snapshot(QUOTA_SNAPSHOT_EVERY), retry),
            passwords: Passwords::new()
                .await
                .map_err(|error| StartupError::Passwords(error.to_string()))?,
            tokens: Tokens::new(
                &jwt_secret,
                settings.access_token_ttl_secs,
                settings.refresh_token_ttl_secs,
            ),
            throttle: Throttle::new(
                settings.throttle_anon_per_hour,
                settings.throttle_user_per_hour,
            ),
        })
    }
}

/// Every route of the service, errors included.
pub fn router(
    state: AppState,
) -> impl Filter<Extract = (impl warp::Reply,), Error = std::convert::Infallible> + Clone {
    let api = routes::auth::routes(state.clone()).or(routes::me::routes(state.clone()));
    let throttled_api = warp::path("api")
        .and(warp::path("v1"))
        .and(crate::throttle::throttled(state.clone()))
        .and(crate::openapi::routes().or(api));
    routes::health::healthz()
        .or(routes::health::readyz(state))
        .or(throttled_api)
        .or(crate::openapi::routes())
        .recover(crate::error::recover)
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("could not create the data directory {path}")]
    DataDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("could not prepare password hashing: {0}")]
    Passwords(String),
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
        let services = Arc::new(Services::build(&database, &settings).await?);
        Ok(Self {
            listener,
            local_addr,
            state: AppState {
                database,
                settings: Arc::new(settings),
                services,
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
        let routes = router(self.state.clone());
        let services = Arc::clone(&self.state.services);
        let housekeeping = tokio::spawn(async move {
            let mut every_minute = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                every_minute.tick().await;
                services.throttle.forget_idle();
            }
        });
        tracing::info!(addr = %self.local_addr, backend = self.state.database.backend().name(), "serving");
        crate::server::serve(self.listener, warp::service(routes), shutdown).await;
        housekeeping.abort();
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
