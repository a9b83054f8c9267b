//! `scoremate processors retry SCORE_ID`: runs a score's failed PDF steps again, as jobs
//! this process claims.

use std::sync::Arc;

use aggregates::{ProcessingStage, Score};
use anyhow::{Context, bail};
use eventstore::AggregateStore;
use objectstore::CorsOrigins;
use processors::jobs::JobOutcome;

use crate::app;
use crate::cli::args::ProcessorsCommand;
use crate::settings::Settings;
use crate::state::Services;

pub async fn run(mut settings: Settings, command: &ProcessorsCommand) -> anyhow::Result<()> {
    let ProcessorsCommand::Retry { score } = command;
    let score_id: uuid::Uuid = score
        .parse()
        .with_context(|| format!("{score:?} is not a score id"))?;
    // With the embedded object store, `serve` may hold its port: this command serves the
    // same files on a port of its own.
    settings.embedded_s3_bind = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let database = app::connect_database(&settings)
        .await
        .context("connecting to the database")?;
    database.migrate().await.context("applying migrations")?;
    // No page uses this short-lived endpoint.
    let (objects, embedded) = app::connect_object_store(&settings, CorsOrigins::default())
        .await
        .context("connecting to the object store")?;
    let services = Services::build(&database, &settings, objects)
        .await
        .context("preparing the services")?;
    let outcome = retry(&services, &score_id.to_string()).await;
    if let Some(embedded) = embedded {
        embedded.shutdown().await;
    }
    database.close().await;
    for line in outcome? {
        println!("{line}");
    }
    Ok(())
}

/// Runs each failed stage as a job claimed by this process (creating the job if the score
/// predates the job table), so no worker runs it at the same time; prints each outcome.
async fn retry(services: &Services, score_id: &str) -> anyhow::Result<Vec<String>> {
    let scores: &Arc<AggregateStore<Score>> = &services.scores;
    let before = scores.load(score_id).await?.aggregate;
    if before.status().is_none() {
        bail!("no score {score_id}");
    }
    let failed: Vec<ProcessingStage> = [ProcessingStage::PdfInfo, ProcessingStage::Thumbnail]
        .into_iter()
        .filter(|stage| !before.has_result(*stage) && before.processing_failure(*stage).is_some())
        .collect();
    if failed.is_empty() {
        return Ok(vec![format!(
            "{score_id}: no failed step to retry (processing is {})",
            before.processing_status().as_str()
        )]);
    }
    let request_id = format!("cli-retry-{}", uuid::Uuid::now_v7());
    let mut lines = Vec::new();
    for stage in failed {
        let outcome = services
            .pdf_jobs
            .retry(score_id, stage, &request_id)
            .await
            .with_context(|| format!("{stage}: the job table"))?;
        let line = match outcome {
            None => format!("{score_id}: {stage} is being run by a worker right now"),
            Some(JobOutcome::Done(_)) => {
                let after = scores.load(score_id).await?.aggregate;
                if after.has_result(stage) {
                    format!("{score_id}: {stage} succeeded")
                } else {
                    format!(
                        "{score_id}: {stage} failed again: {}",
                        after
                            .processing_failure(stage)
                            .unwrap_or("no reason recorded")
                    )
                }
            }
            Some(JobOutcome::LeaseLost) => {
                format!("{score_id}: {stage} was taken over by a worker, which finishes it")
            }
            Some(JobOutcome::Refused(reason)) => bail!("{stage}: {reason}"),
            Some(JobOutcome::RetryLater { reason, after }) => bail!(
                "{stage}: {reason}; queued again, a worker retries it in {} s",
                after.as_secs()
            ),
        };
        lines.push(line);
    }
    Ok(lines)
}
