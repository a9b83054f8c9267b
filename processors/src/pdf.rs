//! The `pdf_info` and `thumbnail` stages, run as jobs ([`crate::jobs`]): the score's file is
//! read from the object store and handed to the PDF sandbox (a child process under CPU,
//! memory and wall-clock limits); the result is recorded on the Score as `PdfInfoExtracted`
//! or `ThumbnailGenerated` (the PNG stored next to the original), or, when the file cannot
//! be processed, as `ProcessingFailed { stage, reason }`. Re-running a step records nothing
//! new: the Score refuses to record a result twice, so every job takes effect once.

use std::sync::Arc;

use aggregates::{PdfInfo, PdfXmp, ProcessingStage, Score, ScoreCommand, ScoreStatus};
use eventstore::{AggregateStore, EventMetadata};
use objectstore::{ObjectStore, ObjectStoreError, thumbnail_object_key};
use score_pdf::{Operation, Sandbox};

use crate::commands::classify;
use crate::runner::ProcessorError;

/// One processing stage over the sandbox.
pub struct PdfProcessing {
    pub stage: ProcessingStage,
    pub scores: Arc<AggregateStore<Score>>,
    pub objects: ObjectStore,
    pub sandbox: Arc<Sandbox>,
    /// Thumbnail width in pixels.
    pub thumbnail_width: u32,
}

/// Why the file cannot be processed, or a transient failure worth retrying.
fn from_store(error: ObjectStoreError) -> Result<String, ProcessorError> {
    match error {
        error if error.is_transient() => Err(ProcessorError::Transient(error.to_string())),
        // The file is gone or unusable: a reason for the user, not a retry.
        ObjectStoreError::NotFound { .. } => Ok("the uploaded file is missing".to_owned()),
        ObjectStoreError::TooLarge { max_bytes, .. } => Ok(format!(
            "the file is larger than the {max_bytes} bytes that are processed"
        )),
        other => Err(ProcessorError::Transient(other.to_string())),
    }
}

impl PdfProcessing {
    fn operation(&self) -> Operation {
        match self.stage {
            ProcessingStage::PdfInfo => Operation::Info,
            ProcessingStage::Thumbnail => Operation::Thumbnail {
                width: self.thumbnail_width,
            },
        }
    }

    /// Runs the stage on `bytes`: the command recording its result, or why it failed.
    async fn process(
        &self,
        score: &Score,
        bytes: &[u8],
    ) -> Result<Result<ScoreCommand, String>, ProcessorError> {
        let outcome = match self.sandbox.run(bytes, self.operation()).await {
            Ok(outcome) => outcome,
            Err(error) if error.is_permanent() => return Ok(Err(error.reason())),
            Err(error) => return Err(ProcessorError::Transient(error.reason())),
        };
        match self.stage {
            ProcessingStage::PdfInfo => {
                let Some(info) = outcome.info else {
                    return Ok(Err("the PDF sandbox answered without PDF info".to_owned()));
                };
                Ok(Ok(ScoreCommand::RecordPdfInfo {
                    info: PdfInfo {
                        page_count: info.page_count,
                        page_width_pt: info.page_width_pt,
                        page_height_pt: info.page_height_pt,
                        title: info.title,
                        author: info.author,
                        subject: info.subject,
                        keywords: info.keywords,
                        encrypted: info.encrypted,
                        xmp: info.xmp.map(|xmp| PdfXmp {
                            title: xmp.title,
                            creators: xmp.creators,
                            subjects: xmp.subjects,
                        }),
                    },
                }))
            }
            ProcessingStage::Thumbnail => {
                let Some(thumbnail) = outcome.thumbnail else {
                    return Ok(Err(
                        "the PDF sandbox answered without a thumbnail".to_owned()
                    ));
                };
                let (Some(owner), Some(score_id)) = (score.owner(), score.upload_id()) else {
                    return Ok(Err("the score has no owner".to_owned()));
                };
                let key = thumbnail_object_key(owner.into_uuid(), score_id.into_uuid());
                self.objects
                    .put(&key, thumbnail.png, "image/png")
                    .await
                    .map_err(|error| ProcessorError::Transient(error.to_string()))?;
                Ok(Ok(ScoreCommand::RecordThumbnail {
                    object_key: key,
                    width: thumbnail.width,
                    height: thumbnail.height,
                }))
            }
        }
    }
}

/// What running a stage on a score did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageOutcome {
    /// The result is recorded (`PdfInfoExtracted` or `ThumbnailGenerated`).
    Succeeded,
    /// The file cannot be processed: `ProcessingFailed` is recorded with this reason.
    Failed(String),
    /// Nothing left to do: the result was already recorded (an earlier run, or another
    /// worker), or the score is not a live confirmed score (deleted meanwhile).
    Skipped,
}

impl StageOutcome {
    /// The label kept in the job table.
    #[must_use]
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed(_) => "failed",
            Self::Skipped => "skipped",
        }
    }
}

impl PdfProcessing {
    /// Runs this stage on one score unless it is done (or the score is gone), recording
    /// the result with `metadata`.
    pub async fn run_on(
        &self,
        score_id: &str,
        metadata: &EventMetadata,
    ) -> Result<StageOutcome, ProcessorError> {
        let loaded = self.scores.load(score_id).await.map_err(classify)?;
        let score = &loaded.aggregate;
        // Deleted meanwhile, or done by an earlier attempt: nothing left to do.
        if score.status() != Some(ScoreStatus::Confirmed) || score.has_result(self.stage) {
            return Ok(StageOutcome::Skipped);
        }
        let Some(key) = score.object_key() else {
            return Ok(StageOutcome::Skipped);
        };
        let limit = self.sandbox.limits.max_input_bytes;
        let started = std::time::Instant::now();
        let command = match self.objects.get(key, limit).await {
            Ok(bytes) => self.process(score, &bytes).await,
            Err(error) => from_store(error).map(Err),
        };
        let outcome = match &command {
            Ok(Ok(_)) => "ok",
            Ok(Err(_)) => "failed",
            Err(_) => "transient_error",
        };
        metrics::counter!("scoremate_pdf_jobs_total", "stage" => self.stage.as_str(), "outcome" => outcome)
            .increment(1);
        metrics::histogram!("scoremate_pdf_job_duration_seconds", "stage" => self.stage.as_str())
            .record(started.elapsed().as_secs_f64());
        let (command, outcome) = match command? {
            Ok(command) => (command, StageOutcome::Succeeded),
            Err(reason) => (
                ScoreCommand::RecordProcessingFailure {
                    stage: self.stage,
                    reason: reason.clone(),
                },
                StageOutcome::Failed(reason),
            ),
        };
        self.scores
            .execute(score_id, command, metadata)
            .await
            .map_err(classify)?;
        Ok(outcome)
    }
}
