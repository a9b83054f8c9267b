//! `scoremate worker`: the background work without the API.

use std::future::Future;

use objectstore::CorsOrigins;

use super::connect::connect_database;
use super::error::StartupError;
use super::services::{release_jobs, start};
use crate::settings::Settings;

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
    // A worker serves no page: its embedded endpoint (single-process installs only)
    // answers no browser.
    let (services, background, embedded_s3) =
        start(&database, &settings, CorsOrigins::default()).await?;
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
