//! The API server: bound, migrated, then serving until shut down.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use objectstore::{CorsOrigins, EmbeddedS3};
use warp::Filter;

use super::background::Background;
use super::connect::connect_database;
use super::error::StartupError;
use super::services::{release_jobs, start};
use crate::http::client_address::TrustedProxies;
use crate::http::connections::ConnectionLimits;
use crate::settings::Settings;
use crate::state::AppState;
use crate::web::{WebPage, origin_of};

/// How often the read models commands wait on look for events nobody woke them for
/// (other instances' commands also reach them through the background loop at once).
const VIEW_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Connections the `/metrics` listener keeps open at once.
const METRICS_MAX_CONNECTIONS: usize = 16;

/// A bound, migrated, not yet serving API server.
pub struct Application {
    listener: tokio::net::TcpListener,
    local_addr: SocketAddr,
    /// `/metrics`, on an address of its own: never the public API address.
    metrics_listener: tokio::net::TcpListener,
    metrics_addr: SocketAddr,
    state: AppState,
    background: Arc<Background>,
    /// Whether `run_until` also runs the background loop (tests drain it themselves).
    run_background: bool,
    embedded_s3: Option<EmbeddedS3>,
}

impl Application {
    /// Connects, migrates and binds; binding before serving lets tests use port 0.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        // Installed before anything records.
        crate::http::metrics::handle();
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
        let metrics_listener = tokio::net::TcpListener::bind(settings.metrics_bind)
            .await
            .map_err(|source| StartupError::Bind {
                addr: settings.metrics_bind,
                source,
            })?;
        let metrics_addr = metrics_listener
            .local_addr()
            .map_err(|source| StartupError::Bind {
                addr: settings.metrics_bind,
                source,
            })?;
        let page_origins = CorsOrigins::new(settings.page_origins(local_addr));
        let (services, background, embedded_s3) = start(&database, &settings, page_origins).await?;
        // Signing is local: a URL signed now shows the origin browsers will be sent to.
        let probe = services
            .objects
            .presign_get("web-page-origin", std::time::Duration::from_secs(60), None)
            .await?;
        let web_page = Arc::new(WebPage::new(origin_of(&probe.url)));
        Ok(Self {
            listener,
            local_addr,
            metrics_listener,
            metrics_addr,
            state: AppState {
                database,
                public_url: settings
                    .public_url
                    .clone()
                    .unwrap_or_else(|| format!("http://{local_addr}"))
                    .into(),
                settings: Arc::new(settings),
                services,
                web_page,
            },
            background,
            run_background: true,
            embedded_s3,
        })
    }

    /// Serves without the background loop: the caller steps the projections and
    /// processors itself (`background().run_until_idle`), so tests see each step happen
    /// exactly when they ask for it.
    #[must_use]
    pub fn without_background_loop(mut self) -> Self {
        self.run_background = false;
        self
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Where `/metrics` is served.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics_addr
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The projections and processors, for tests that drain them step by step.
    pub fn background(&self) -> Arc<Background> {
        Arc::clone(&self.background)
    }

    /// Serves until `shutdown` resolves, then finishes the requests in flight.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let routes = crate::routes::router(self.state.clone());
        let background = self.run_background.then(|| {
            tokio::spawn(
                Arc::clone(&self.background).run_forever(std::time::Duration::from_millis(250)),
            )
        });
        // Part of the request path, not of the background work: they run in every
        // server, tests that drain the background themselves included.
        let views = [
            tokio::spawn(Arc::clone(&self.state.services.scores_view).follow(VIEW_INTERVAL)),
            tokio::spawn(Arc::clone(&self.state.services.setlists_view).follow(VIEW_INTERVAL)),
        ];
        let services = Arc::clone(&self.state.services);
        let housekeeping = tokio::spawn(async move {
            let mut every_minute = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                every_minute.tick().await;
                services.throttle.forget_idle().await;
            }
        });
        let metrics_routes = crate::http::metrics::route(self.state.database.clone())
            .recover(crate::http::error::recover);
        let (stop_metrics, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
        let metrics = tokio::spawn(crate::http::server::serve_with_limits(
            self.metrics_listener,
            "metrics",
            warp::service(metrics_routes),
            // A scraper or two, never the public: a few slots, not a share of the files.
            ConnectionLimits {
                max_connections: METRICS_MAX_CONNECTIONS,
                ..self.state.settings.connection_limits()
            },
            // Scrapers' addresses are never used.
            TrustedProxies::default(),
            async {
                let _ = metrics_stopped.await;
            },
        ));
        tracing::info!(
            addr = %self.local_addr,
            metrics_addr = %self.metrics_addr,
            backend = self.state.database.backend().name(),
            worker = self.state.services.pdf_jobs.queue().worker(),
            "serving"
        );
        crate::http::server::serve_with_limits(
            self.listener,
            "api",
            warp::service(routes),
            self.state.settings.connection_limits(),
            self.state.settings.trusted_proxies(),
            shutdown,
        )
        .await;
        let _ = stop_metrics.send(());
        let _ = metrics.await;
        housekeeping.abort();
        for view in views {
            view.abort();
        }
        if let Some(background) = background {
            background.abort();
            // Cancelled at its next await; then its PDF jobs are stopped and can be freed.
            let _ = background.await;
            release_jobs(&self.state.services).await;
        }
        if let Some(embedded) = self.embedded_s3 {
            embedded.shutdown().await;
        }
        self.state.services.upload_locks.close().await;
        self.state.database.close().await;
        tracing::info!("stopped");
    }
}
