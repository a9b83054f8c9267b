//! Wiring: settings in, a running server out. Tests build the same `Application`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use aggregates::{Account, ProcessingStage, Quota, Score, Session, Setlist};
use eventstore::{
    AggregateStore, Database, DatabaseOptions, EventLog, LogCursor, RetryPolicy, Storage,
    StoreError,
};
use objectstore::{ObjectStore, ObjectStoreConfig, ObjectStoreError};
use processors::{
    JobFeed, JobQueue, ObjectCleanup, PdfJobs, PdfProcessing, ProcessorRunner, QuotaSaga,
    ReservationExpiry, SetlistCleanup, UploadSweep,
};
use projections::{
    Accounts, Analytics, Follower, OpenReservations, ProjectionRunner, QuotaBalances, QuotaLedger,
    Scores, Sessions, Setlists, Step,
};
use tokio::sync::Notify;
use warp::Filter;

use objectstore::{EmbeddedS3, EmbeddedS3Error, load_or_generate_credentials};

use crate::auth::{Passwords, Tokens};
use crate::connections::ConnectionLimits;
use crate::routes;
use crate::settings::Settings;
use crate::throttle::Throttle;

/// How many events pass between two snapshots of a quota ledger.
const QUOTA_SNAPSHOT_EVERY: usize = 20;

/// What request handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    pub database: Database,
    pub settings: Arc<Settings>,
    pub services: Arc<Services>,
    /// Base of the absolute links in answers: `SCOREMATE_PUBLIC_URL`, else this
    /// process's bound API address.
    pub public_url: Arc<str>,
}

/// The command side and the security machinery, built once at start.
pub struct Services {
    pub accounts: AggregateStore<Account>,
    pub sessions: AggregateStore<Session>,
    pub quotas: Arc<AggregateStore<Quota>>,
    pub scores: Arc<AggregateStore<Score>>,
    pub objects: ObjectStore,
    /// One confirmation per upload at a time (`POST /scores`).
    pub upload_locks: crate::upload_locks::UploadLocks,
    /// The score read model, kept at the log head by its own loop; commands wait for it
    /// to reach their change before they answer (read-your-writes).
    pub scores_view: Arc<ProjectionRunner<Scores>>,
    /// The setlist read model, likewise.
    pub setlists_view: Arc<ProjectionRunner<Setlists>>,
    pub setlists: Arc<AggregateStore<Setlist>>,
    /// Signalled after every append by this process: wakes the background followers.
    pub appended: Arc<Notify>,
    /// The child process every PDF job runs in.
    pub pdf_sandbox: Arc<score_pdf::Sandbox>,
    /// The PDF jobs this process claims and runs.
    pub pdf_jobs: Arc<PdfJobs>,
    /// Signalled when PDF jobs are enqueued: wakes the claim loop.
    pub jobs_ready: Arc<Notify>,
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
    pub async fn build(
        database: &Database,
        settings: &Settings,
        objects: ObjectStore,
    ) -> Result<Self, StartupError> {
        let retry = RetryPolicy::default();
        let jwt_secret = settings
            .resolve_jwt_secret()
            .map_err(|source| StartupError::DataDir {
                path: settings.jwt_secret_path().display().to_string(),
                source,
            })?;
        let appended = Arc::new(Notify::new());
        let scores_view = Arc::new(ProjectionRunner::new(Scores, database.clone()));
        let setlists_view = Arc::new(ProjectionRunner::new(Setlists, database.clone()));
        let scores = Arc::new(
            AggregateStore::new(database, Storage::Events, retry)
                .notifying(Arc::clone(&appended))
                .notifying(scores_view.waker()),
        );
        let pdf_sandbox = Arc::new(
            crate::pdf_cli::processing_sandbox(settings.pdf_child.as_deref())
                .map_err(|error| StartupError::PdfSandbox(format!("{error:#}")))?,
        );
        let pdf_stage = |stage| PdfProcessing {
            stage,
            scores: Arc::clone(&scores),
            objects: objects.clone(),
            sandbox: Arc::clone(&pdf_sandbox),
            thumbnail_width: score_pdf::DEFAULT_THUMBNAIL_WIDTH,
        };
        let pdf_jobs = Arc::new(PdfJobs::new(
            JobQueue::new(
                database.clone(),
                processors::jobs::worker_identity(),
                std::time::Duration::from_secs(settings.pdf_job_lease_secs),
            ),
            pdf_stage(ProcessingStage::PdfInfo),
            pdf_stage(ProcessingStage::Thumbnail),
            settings.pdf_jobs,
        ));
        Ok(Self {
            accounts: AggregateStore::new(database, Storage::Events, retry)
                .notifying(Arc::clone(&appended)),
            sessions: AggregateStore::new(database, Storage::Events, retry)
                .notifying(Arc::clone(&appended)),
            quotas: Arc::new(
                AggregateStore::new(database, Storage::Snapshot(QUOTA_SNAPSHOT_EVERY), retry)
                    .notifying(Arc::clone(&appended)),
            ),
            scores,
            objects,
            upload_locks: crate::upload_locks::UploadLocks::new(database),
            setlists: Arc::new(
                AggregateStore::new(database, Storage::Events, retry)
                    .notifying(Arc::clone(&appended))
                    .notifying(setlists_view.waker()),
            ),
            scores_view,
            setlists_view,
            appended,
            pdf_sandbox,
            pdf_jobs,
            jobs_ready: Arc::new(Notify::new()),
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
    let api = routes::auth::routes(state.clone())
        .or(routes::me::routes(state.clone()))
        .or(routes::audit::routes(state.clone()))
        .or(routes::uploads::routes(state.clone()))
        .or(routes::library::routes(state.clone()))
        .or(routes::scores::routes(state.clone()))
        .or(routes::setlists::routes(state.clone()));
    let throttled_api = warp::path("api")
        .and(warp::path("v1"))
        .and(crate::throttle::throttled(state.clone()))
        .and(crate::extract::query_without_nul())
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
    #[error("could not prepare the PDF sandbox: {0}")]
    PdfSandbox(String),
    #[error("could not prepare password hashing: {0}")]
    Passwords(String),
    #[error("could not start the embedded S3 endpoint")]
    EmbeddedS3(#[from] EmbeddedS3Error),
    #[error("the object store is not usable")]
    ObjectStore(#[from] ObjectStoreError),
    #[error(
        "SCOREMATE_S3_ENDPOINT is set but SCOREMATE_S3_ACCESS_KEY_ID or SCOREMATE_S3_SECRET_ACCESS_KEY is not"
    )]
    MissingS3Credentials,
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

/// The object store of the settings: the external endpoint, or the embedded one started
/// here (returned so it lives as long as the server).
pub async fn connect_object_store(
    settings: &Settings,
) -> Result<(ObjectStore, Option<EmbeddedS3>), StartupError> {
    let (config, embedded) = if let Some(endpoint) = &settings.s3_endpoint {
        let (Some(key), Some(secret)) =
            (&settings.s3_access_key_id, &settings.s3_secret_access_key)
        else {
            return Err(StartupError::MissingS3Credentials);
        };
        let config = ObjectStoreConfig {
            endpoint: Some(endpoint.clone()),
            bucket: settings.s3_bucket.clone(),
            region: settings.s3_region.clone(),
            access_key_id: key.expose().to_owned(),
            secret_access_key: secret.expose().to_owned(),
            force_path_style: settings.s3_force_path_style.unwrap_or(true),
        };
        (config, None)
    } else {
        let (key, secret) = load_or_generate_credentials(&settings.data_dir).map_err(|source| {
            StartupError::DataDir {
                path: settings.data_dir.display().to_string(),
                source,
            }
        })?;
        let root = settings.data_dir.join("objects");
        let embedded = EmbeddedS3::start_with_limits(
            settings.embedded_s3_bind,
            &root,
            &key,
            &secret,
            settings.connection_limits(),
        )
        .await?;
        let config = ObjectStoreConfig {
            endpoint: Some(embedded.endpoint_url()),
            bucket: settings.s3_bucket.clone(),
            region: settings.s3_region.clone(),
            access_key_id: key,
            secret_access_key: secret,
            force_path_style: true,
        };
        (config, Some(embedded))
    };
    let objects = ObjectStore::new(config);
    objects.ensure_bucket().await?;
    Ok((objects, embedded))
}

/// The projections and processors of this process, stepped in order, the timers
/// (reservation expiry, upload sweep), and the claim loop of the PDF jobs.
pub struct Background {
    followers: Vec<Box<dyn Follower>>,
    expiry: ReservationExpiry,
    sweep: UploadSweep,
    /// How often `run_forever` sweeps: a sweep lists the bucket, unlike the other steps.
    sweep_every: std::time::Duration,
    jobs: Arc<PdfJobs>,
    database: Database,
    appended: Arc<Notify>,
    jobs_ready: Arc<Notify>,
}

impl Background {
    pub fn new(database: &Database, services: &Services, sweep_every: std::time::Duration) -> Self {
        let followers: Vec<Box<dyn Follower>> = vec![
            Box::new(ProjectionRunner::new(OpenReservations, database.clone())),
            // The very runners the requests wait on, so their progress is shared.
            Box::new(Arc::clone(&services.scores_view)),
            Box::new(Arc::clone(&services.setlists_view)),
            Box::new(ProjectionRunner::new(QuotaBalances, database.clone())),
            Box::new(ProjectionRunner::new(QuotaLedger, database.clone())),
            Box::new(ProjectionRunner::new(Accounts, database.clone())),
            Box::new(ProjectionRunner::new(Sessions, database.clone())),
            Box::new(ProjectionRunner::new(Analytics, database.clone())),
            Box::new(ProcessorRunner::new(
                QuotaSaga {
                    scores: Arc::clone(&services.scores),
                    quotas: Arc::clone(&services.quotas),
                },
                database.clone(),
            )),
            Box::new(ProcessorRunner::new(
                SetlistCleanup {
                    database: database.clone(),
                    scores: Arc::clone(&services.scores),
                    setlists: Arc::clone(&services.setlists),
                },
                database.clone(),
            )),
            // They only enqueue; the jobs run in the claim loop, in any process.
            Box::new(JobFeed::new(
                ProcessingStage::PdfInfo,
                database.clone(),
                Arc::clone(&services.jobs_ready),
            )),
            Box::new(JobFeed::new(
                ProcessingStage::Thumbnail,
                database.clone(),
                Arc::clone(&services.jobs_ready),
            )),
            Box::new(ProcessorRunner::new(
                ObjectCleanup {
                    scores: Arc::clone(&services.scores),
                    objects: services.objects.clone(),
                },
                database.clone(),
            )),
        ];
        let expiry = ReservationExpiry {
            database: database.clone(),
            scores: Arc::clone(&services.scores),
            quotas: Arc::clone(&services.quotas),
        };
        let sweep = UploadSweep {
            database: database.clone(),
            scores: Arc::clone(&services.scores),
            objects: services.objects.clone(),
        };
        Self {
            followers,
            expiry,
            sweep,
            sweep_every,
            jobs: Arc::clone(&services.pdf_jobs),
            database: database.clone(),
            appended: Arc::clone(&services.appended),
            jobs_ready: Arc::clone(&services.jobs_ready),
        }
    }

    /// Steps every follower until none has work, runs the expiry timer and the upload
    /// sweep once, then runs the due PDF jobs; again until nothing moves. Answers how many
    /// events, expiries, swept objects and jobs were handled. What tests drain; the server
    /// runs the jobs in their own loop and sweeps only every `sweep_every`.
    pub async fn run_until_idle(&self, now: chrono::DateTime<chrono::Utc>) -> usize {
        let mut total = 0;
        loop {
            let mut moved = self.run_followers_until_idle(now, true).await;
            match self.jobs.run_until_idle().await {
                Ok(jobs) => moved += jobs,
                Err(error) => tracing::warn!(%error, "running PDF jobs failed; retrying later"),
            }
            total += moved;
            if moved == 0 {
                return total;
            }
        }
    }

    /// `run_until_idle` without the PDF jobs, and with the sweep only when `sweep` is set.
    async fn run_followers_until_idle(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        sweep: bool,
    ) -> usize {
        let mut total = 0;
        loop {
            let mut moved = 0;
            // Read once per round: a follower known to have reached it has nothing to do
            // and is not asked (on SQLite, asking would take the write lock).
            let head = EventLog::new(self.database.clone()).head().await.ok();
            for follower in &self.followers {
                moved += step_until_idle(follower.as_ref(), head).await;
            }
            moved += self.run_timers(now, sweep).await;
            total += moved;
            if moved == 0 {
                return total;
            }
        }
    }

    /// The reservation expiry once, then (if `sweep`) the upload sweep: uploads the expiry
    /// ended are swept at once. Answers how many it handled.
    async fn run_timers(&self, now: chrono::DateTime<chrono::Utc>, sweep: bool) -> usize {
        let mut moved = 0;
        match self.expiry.run_once(now).await {
            Ok(expired) => moved += expired,
            Err(error) => {
                tracing::warn!(error = %error, "reservation expiry failed; retrying later")
            }
        }
        if sweep {
            match self.sweep.run_once().await {
                Ok(swept) => moved += swept,
                Err(error) => {
                    tracing::warn!(error = %error, "upload sweep failed; retrying later")
                }
            }
        }
        moved
    }

    /// Steps one follower until it is idle whenever `wake` is told, and every `interval`.
    async fn follow(&self, index: usize, wake: Arc<Notify>, interval: std::time::Duration) {
        let Some(follower) = self.followers.get(index) else {
            return;
        };
        let log = EventLog::new(self.database.clone());
        loop {
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(interval) => {}
            }
            step_until_idle(follower.as_ref(), log.head().await.ok()).await;
        }
    }

    /// Runs whenever events are appended (by this process, or — on PostgreSQL — by any
    /// process, through `LISTEN scoremate_events`), and at least every `interval` for the
    /// expiry timer and as a fallback for lost wake-ups. Each follower steps in a loop of
    /// its own, so a read model never waits behind a processor's commands (under load the
    /// quota saga alone takes seconds to work through a burst). Beside them, the claim
    /// loop of the PDF jobs, woken when jobs are enqueued (`LISTEN scoremate_jobs` on
    /// PostgreSQL) and every `interval`.
    pub async fn run_forever(self: Arc<Self>, interval: std::time::Duration) {
        // Aborted with this task (the server aborts it on shutdown).
        let _listener = match &self.database {
            Database::Postgres(pool) => Some(AbortOnDrop(tokio::spawn(forward_notifications(
                pool.clone(),
                Arc::clone(&self.appended),
                Arc::clone(&self.jobs_ready),
            )))),
            Database::Sqlite(_) => None,
        };
        let _jobs = AbortOnDrop(tokio::spawn(
            Arc::clone(&self.jobs).run_forever(Arc::clone(&self.jobs_ready), interval),
        ));
        let wakes: Vec<Arc<Notify>> = self
            .followers
            .iter()
            .map(|_| Arc::new(Notify::new()))
            .collect();
        let _followers: Vec<AbortOnDrop> = wakes
            .iter()
            .enumerate()
            .map(|(index, wake)| {
                let background = Arc::clone(&self);
                let wake = Arc::clone(wake);
                AbortOnDrop(tokio::spawn(async move {
                    background.follow(index, wake, interval).await;
                }))
            })
            .collect();
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_sweep: Option<tokio::time::Instant> = None;
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                () = self.appended.notified() => {}
            }
            for wake in &wakes {
                wake.notify_one();
            }
            let sweep = last_sweep.is_none_or(|at| at.elapsed() >= self.sweep_every);
            if sweep {
                last_sweep = Some(tokio::time::Instant::now());
            }
            self.run_timers(chrono::Utc::now(), sweep).await;
        }
    }
}

/// Steps `follower` until it is idle, unless it is known to have reached `head` already;
/// answers how many events it handled.
async fn step_until_idle(follower: &dyn Follower, head: Option<LogCursor>) -> usize {
    if head.is_some_and(|head| follower.reached() >= head) {
        return 0;
    }
    let mut moved = 0;
    loop {
        match follower.step().await {
            Ok(Step::Handled(count)) => moved += count,
            Ok(Step::Idle) => return moved,
            Err(error) => {
                tracing::warn!(follower = follower.name(), error = %error, "step failed; retrying later");
                return moved;
            }
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Turns PostgreSQL notifications of other processes' appends and enqueued jobs into
/// local wake-ups.
async fn forward_notifications(pool: sqlx::PgPool, appended: Arc<Notify>, jobs: Arc<Notify>) {
    loop {
        match sqlx::postgres::PgListener::connect_with(&pool).await {
            Ok(mut listener) => {
                if let Err(error) = listener
                    .listen_all(["scoremate_events", "scoremate_jobs"])
                    .await
                {
                    tracing::warn!(%error, "LISTEN failed; polling only until it works");
                } else {
                    // `recv` reconnects by itself; an error means it gave up for now.
                    while let Ok(notification) = listener.recv().await {
                        if notification.channel() == "scoremate_jobs" {
                            jobs.notify_one();
                        } else {
                            appended.notify_one();
                        }
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "cannot listen for new events; polling"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    }
}

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
        crate::metrics::handle();
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
        let (objects, embedded_s3) = connect_object_store(&settings).await?;
        let services = Arc::new(Services::build(&database, &settings, objects).await?);
        let background = Arc::new(Background::new(
            &database,
            &services,
            settings.upload_sweep_interval(),
        ));
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
        let routes = router(self.state.clone());
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
                services.throttle.forget_idle();
            }
        });
        let metrics_routes =
            crate::metrics::route(self.state.clone()).recover(crate::error::recover);
        let (stop_metrics, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
        let metrics = tokio::spawn(crate::server::serve_with_limits(
            self.metrics_listener,
            "metrics",
            warp::service(metrics_routes),
            // A scraper or two, never the public: a few slots, not a share of the files.
            ConnectionLimits {
                max_connections: METRICS_MAX_CONNECTIONS,
                ..self.state.settings.connection_limits()
            },
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
        crate::server::serve_with_limits(
            self.listener,
            "api",
            warp::service(routes),
            self.state.settings.connection_limits(),
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

/// `scoremate worker`: the projections and processors without the HTTP API, until
/// `shutdown`. Several workers (and `serve` instances) may share one PostgreSQL database:
/// each follower runs in one process at a time (its checkpoint row or advisory lock), the
/// PDF jobs are shared (each claimed by one process at a time, under a lease), and every
/// command issued takes effect once.
pub async fn run_worker(
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartupError> {
    let database = connect_database(&settings).await?;
    database.migrate().await?;
    let (objects, embedded_s3) = connect_object_store(&settings).await?;
    let services = Arc::new(Services::build(&database, &settings, objects).await?);
    let background = Arc::new(Background::new(
        &database,
        &services,
        settings.upload_sweep_interval(),
    ));
    tracing::info!(
        backend = database.backend().name(),
        worker = services.pdf_jobs.queue().worker(),
        pdf_jobs = services.pdf_jobs.concurrency(),
        "working"
    );
    let work = tokio::spawn(background.run_forever(std::time::Duration::from_millis(250)));
    shutdown.await;
    work.abort();
    let _ = work.await;
    release_jobs(&services).await;
    if let Some(embedded) = embedded_s3 {
        embedded.shutdown().await;
    }
    database.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Hands this process's running PDF jobs back to the queue at shutdown (their work was
/// stopped with the background loop), so other processes take them without waiting for
/// the leases to run out.
async fn release_jobs(services: &Services) {
    match services.pdf_jobs.queue().release_all().await {
        Ok(0) => {}
        Ok(released) => tracing::info!(released, "PDF jobs handed back to the queue"),
        Err(error) => {
            tracing::warn!(%error, "could not hand the PDF jobs back; their leases will run out");
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
///
/// The handlers are installed when this is called, not when the future is first polled:
/// a signal arriving right after the server says it is serving must not find the default
/// action (termination) still in place.
#[cfg(unix)]
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let interrupt = signal(SignalKind::interrupt());
    let terminate = signal(SignalKind::terminate());
    async move {
        let wait = |listener: std::io::Result<tokio::signal::unix::Signal>, name: &'static str| async move {
            match listener {
                Ok(mut listener) => {
                    listener.recv().await;
                }
                Err(error) => {
                    tracing::error!(%error, "cannot listen for {name}");
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::select! {
            () = wait(interrupt, "SIGINT") => tracing::info!("SIGINT: shutting down"),
            () = wait(terminate, "SIGTERM") => tracing::info!("SIGTERM: shutting down"),
        }
    }
}

#[cfg(not(unix))]
pub async fn shutdown_signal() {
    if let Err(error) = tokio::signal::ctrl_c().await {
        tracing::error!(%error, "cannot listen for Ctrl-C");
        std::future::pending::<()>().await;
    }
    tracing::info!("Ctrl-C: shutting down");
}
