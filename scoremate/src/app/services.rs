//! Building the command side and the security machinery from the settings.

use std::sync::Arc;

use aggregates::ProcessingStage;
use eventstore::{AggregateStore, Database, RetryPolicy, Storage};
use objectstore::{CorsOrigins, EmbeddedS3, ObjectStore};
use processors::{JobQueue, PdfJobs, PdfProcessing};
use projections::{OwnerChanges, ProjectionRunner, Scores, Setlists};
use tokio::sync::Notify;

use super::background::Background;
use super::connect::connect_object_store;
use super::error::StartupError;
use crate::auth::{Passwords, Tokens};
use crate::http::throttle::Throttle;
use crate::settings::Settings;
use crate::state::Services;
use crate::sync_token::SyncTokenKey;
use crate::upload_locks::UploadLocks;

/// How many events pass between two snapshots of a quota ledger.
const QUOTA_SNAPSHOT_EVERY: usize = 20;

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
        let changes = Arc::new(OwnerChanges::new());
        let scores_view = Arc::new(
            ProjectionRunner::new(Scores, database.clone()).announcing_to(Arc::clone(&changes)),
        );
        let setlists_view = Arc::new(
            ProjectionRunner::new(Setlists, database.clone()).announcing_to(Arc::clone(&changes)),
        );
        let scores = Arc::new(
            AggregateStore::new(database, Storage::Events, retry)
                .notifying(Arc::clone(&appended))
                .notifying(scores_view.waker()),
        );
        let pdf_sandbox = Arc::new(
            crate::pdf_sandbox::processing_sandbox(settings.pdf_child.as_deref())
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
            sessions: Arc::new(
                AggregateStore::new(database, Storage::Events, retry)
                    .notifying(Arc::clone(&appended)),
            ),
            quotas: Arc::new(
                AggregateStore::new(database, Storage::Snapshot(QUOTA_SNAPSHOT_EVERY), retry)
                    .notifying(Arc::clone(&appended)),
            ),
            scores,
            objects,
            upload_locks: UploadLocks::new(database),
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
            tokens: Arc::new(Tokens::new(
                &jwt_secret,
                settings.access_token_ttl_secs,
                settings.refresh_token_ttl_secs,
            )),
            throttle: Arc::new(throttle(database, settings)),
            sync_tokens: SyncTokenKey::derive(jwt_secret.expose()),
            changes,
            // As many renders at once as the machine has cores: each is one busy child.
            previews: Arc::new(crate::preview_renders::PreviewRenders::new(
                std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
                crate::preview_renders::QUEUE_WAIT,
            )),
        })
    }
}

/// Hands this process's running PDF jobs back to the queue at shutdown (their work was
/// stopped with the background loop), so other processes take them without waiting for
/// the leases to run out.
pub(super) async fn release_jobs(services: &Services) {
    match services.pdf_jobs.queue().release_all().await {
        Ok(0) => {}
        Ok(released) => tracing::info!(released, "PDF jobs handed back to the queue"),
        Err(error) => {
            tracing::warn!(%error, "could not hand the PDF jobs back; their leases will run out");
        }
    }
}

/// What `serve` and `worker` both start from a migrated database: the object store (the
/// embedded endpoint, when no external one is set, returned so it lives as long as they
/// do), the services, and the background work over them.
pub(super) async fn start(
    database: &Database,
    settings: &Settings,
    page_origins: CorsOrigins,
) -> Result<(Arc<Services>, Arc<Background>, Option<EmbeddedS3>), StartupError> {
    let (objects, embedded_s3) = connect_object_store(settings, page_origins).await?;
    let services = Arc::new(Services::build(database, settings, objects).await?);
    let background = Arc::new(Background::new(database, &services, settings));
    Ok((services, background, embedded_s3))
}

/// In memory on SQLite (one process); shared through the database on PostgreSQL, where
/// several instances may serve behind one proxy.
fn throttle(database: &Database, settings: &Settings) -> Throttle {
    let (anonymous, user) = (
        settings.throttle_anon_per_hour,
        settings.throttle_user_per_hour,
    );
    match database {
        Database::Postgres(pool) => Throttle::shared(pool.clone(), anonymous, user),
        Database::Sqlite(_) => Throttle::new(anonymous, user),
    }
}
