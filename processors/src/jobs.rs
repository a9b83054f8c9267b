//! PDF processing jobs, shared by every `serve` and `worker` process (issue #6).
//!
//! Feeding: the checkpointed log follower of each stage ([`JobFeed`], checkpoint and
//! advisory lock named `pdf_info` / `thumbnail`, so one process at a time as for every
//! processor) inserts one row per (score, stage) on `UploadConfirmed`, in the transaction
//! that moves its checkpoint: every confirmed upload gets its jobs exactly once, also
//! after `kill -9`, and a replay inserts nothing (`ON CONFLICT DO NOTHING`).
//!
//! Running: any process claims due jobs under a lease ([`JobQueue::claim`]; on PostgreSQL
//! `FOR UPDATE SKIP LOCKED`, so processes never wait for each other's rows), runs up to
//! `concurrency` of them at once ([`PdfJobs`]), renews the lease while a job runs and then
//! marks the job done. A process that dies leaves its jobs `running` until their leases
//! run out; another process claims them then. Each claim increments `attempts`, which
//! fences it: a process whose lease was taken over can no longer renew, finish or requeue
//! the job. Running a job twice is harmless: the stage skips a score whose result is
//! recorded, and the Score aggregate refuses to record a result twice, so each job's
//! effect happens once.

use std::sync::Arc;
use std::time::Duration;

use aggregates::ProcessingStage;
use eventstore::{Actor, Database, EventLog, EventMetadata, RecordedEvent};
use projections::{
    Follower, Progress, ProjectionError, ReadModelTx, Step, peek_checkpoint, write_checkpoint,
};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::commands::{caused_by, score_event};
use crate::pdf::{PdfProcessing, StageOutcome};
use crate::runner::{AdvisoryLock, ProcessorError};

/// Why the job table could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The database failed; the job is left as it was and tried again later.
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// A row names a stage this build does not know (the table's CHECK forbids it).
    #[error("the job table names an unknown processing stage {0:?}")]
    UnknownStage(String),
}

/// The current time as SQLite stores the job table's times: UTC text that sorts in time
/// order.
const SQLITE_NOW: &str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

/// A claimed job: run it, then report through [`JobQueue::finish`] or
/// [`JobQueue::retry_later`] with the same value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: i64,
    pub score_id: String,
    pub stage: ProcessingStage,
    /// This claim's number (1 for the first); fences every later write of this claim.
    pub attempt: i64,
    /// The process whose lease ran out, when this claim took the job over from it.
    pub taken_over_from: Option<String>,
    causation_id: Option<String>,
    correlation_id: Option<String>,
    request_id: Option<String>,
}

impl Job {
    /// Metadata of the command this job issues: caused by the event that enqueued it.
    #[must_use]
    pub fn metadata(&self) -> EventMetadata {
        let mut metadata = EventMetadata::new(Actor::System, chrono::Utc::now());
        metadata.request_id.clone_from(&self.request_id);
        metadata.causation_id.clone_from(&self.causation_id);
        metadata.correlation_id.clone_from(&self.correlation_id);
        metadata
    }
}

/// `id, score_id, stage, attempts, previous lease owner, causation, correlation, request`.
type JobRow = (
    i64,
    String,
    String,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn parse_stage(stage: &str) -> Result<ProcessingStage, JobError> {
    [ProcessingStage::PdfInfo, ProcessingStage::Thumbnail]
        .into_iter()
        .find(|known| known.as_str() == stage)
        .ok_or_else(|| JobError::UnknownStage(stage.to_owned()))
}

fn job_from_row(row: JobRow) -> Result<Job, JobError> {
    let (id, score_id, stage, attempt, taken_over_from, causation_id, correlation_id, request_id) =
        row;
    Ok(Job {
        id,
        score_id,
        stage: parse_stage(&stage)?,
        attempt,
        taken_over_from,
        causation_id,
        correlation_id,
        request_id,
    })
}

/// `+N.NNN seconds`, an SQLite date modifier.
fn sqlite_offset(duration: Duration) -> String {
    format!("{:+.3} seconds", duration.as_secs_f64())
}

/// This process's name in the job table (`lease_owner`, `claimed_by`): host, process id
/// and a random part, so a restarted process on the same host is told apart.
#[must_use]
pub fn worker_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|host| host.trim().to_owned())
        .filter(|host| !host.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    let nonce: String = uuid::Uuid::new_v4()
        .simple()
        .to_string()
        .chars()
        .take(8)
        .collect();
    format!("{host}:{}:{nonce}", std::process::id())
}

/// Inserts the job of `stage` for `score_id` unless it exists, inside the feeding
/// transaction; answers whether a row was inserted.
pub async fn enqueue(
    tx: &mut ReadModelTx<'_>,
    stage: ProcessingStage,
    score_id: &str,
    metadata: &EventMetadata,
) -> Result<bool, sqlx::Error> {
    const INSERT: &str = "INSERT INTO processing_jobs \
         (score_id, stage, causation_id, correlation_id, request_id) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (score_id, stage) DO NOTHING";
    // The same SQL and binds on either backend; one query value cannot serve both drivers.
    macro_rules! insert {
        ($transaction:expr) => {
            sqlx::query(INSERT)
                .bind(score_id)
                .bind(stage.as_str())
                .bind(metadata.causation_id.as_deref())
                .bind(metadata.correlation_id.as_deref())
                .bind(metadata.request_id.as_deref())
                .execute(&mut **$transaction)
                .await?
                .rows_affected()
        };
    }
    let inserted = match tx {
        ReadModelTx::Sqlite(transaction, _) => insert!(transaction),
        ReadModelTx::Postgres(transaction) => insert!(transaction),
    };
    Ok(inserted > 0)
}

/// Unfinished jobs of one stage in one state, for `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueDepth {
    pub stage: String,
    /// `queued` (due now or backing off) or `running`.
    pub state: String,
    pub jobs: i64,
}

/// How many jobs are queued and running, by stage.
pub async fn queue_depth(database: &Database) -> Result<Vec<QueueDepth>, sqlx::Error> {
    const DEPTH: &str = "SELECT stage, state, count(*) FROM processing_jobs \
         WHERE state <> 'done' GROUP BY stage, state ORDER BY stage, state";
    let rows: Vec<(String, String, i64)> = match database {
        Database::Sqlite(pool) => sqlx::query_as(DEPTH).fetch_all(pool).await?,
        Database::Postgres(pool) => sqlx::query_as(DEPTH).fetch_all(pool).await?,
    };
    Ok(rows
        .into_iter()
        .map(|(stage, state, jobs)| QueueDepth { stage, state, jobs })
        .collect())
}

const POSTGRES_CLAIM: &str = "
WITH picked AS (
    SELECT id, lease_owner AS previous_owner
      FROM processing_jobs
     WHERE state <> 'done'
       AND ((state = 'queued' AND next_attempt_at <= now())
         OR (state = 'running' AND lease_until < now()))
     ORDER BY next_attempt_at, id
     LIMIT $3
       FOR UPDATE SKIP LOCKED
)
UPDATE processing_jobs AS job
   SET state = 'running', attempts = job.attempts + 1, lease_owner = $1, claimed_by = $1,
       lease_until = now() + make_interval(secs => $2), updated_at = now()
  FROM picked
 WHERE job.id = picked.id
RETURNING job.id, job.score_id, job.stage, job.attempts, picked.previous_owner,
          job.causation_id, job.correlation_id, job.request_id";

/// The job table, as one process sees it.
#[derive(Debug, Clone)]
pub struct JobQueue {
    database: Database,
    worker: String,
    lease: Duration,
}

impl JobQueue {
    /// `worker` names this process in the table; `lease` is how long a claim lasts without
    /// renewal (at least a second), so how long a dead process's jobs wait.
    pub fn new(database: Database, worker: impl Into<String>, lease: Duration) -> Self {
        Self {
            database,
            worker: worker.into(),
            lease: lease.max(Duration::from_secs(1)),
        }
    }

    pub fn worker(&self) -> &str {
        &self.worker
    }

    pub const fn lease(&self) -> Duration {
        self.lease
    }

    /// Claims up to `limit` due jobs: queued ones whose back-off is over, and running ones
    /// whose lease ran out, oldest due first.
    pub async fn claim(&self, limit: usize) -> Result<Vec<Job>, JobError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<JobRow> = match &self.database {
            Database::Postgres(pool) => {
                sqlx::query_as(POSTGRES_CLAIM)
                    .bind(&self.worker)
                    .bind(self.lease.as_secs_f64())
                    .bind(limit)
                    .fetch_all(pool)
                    .await?
            }
            Database::Sqlite(pool) => {
                // One process, and BEGIN IMMEDIATE holds the write lock from the read on:
                // nobody else can claim the rows in between.
                let mut transaction = pool.begin_with("BEGIN IMMEDIATE").await?;
                let picked: Vec<(i64, Option<String>)> = sqlx::query_as(&format!(
                    "SELECT id, lease_owner FROM processing_jobs \
                     WHERE state <> 'done' \
                       AND ((state = 'queued' AND next_attempt_at <= {SQLITE_NOW}) \
                         OR (state = 'running' AND lease_until < {SQLITE_NOW})) \
                     ORDER BY next_attempt_at, id LIMIT $1"
                ))
                .bind(limit)
                .fetch_all(&mut *transaction)
                .await?;
                let mut rows = Vec::with_capacity(picked.len());
                for (id, previous_owner) in picked {
                    let (id, score_id, stage, attempts, causation, correlation, request): (
                        i64,
                        String,
                        String,
                        i64,
                        Option<String>,
                        Option<String>,
                        Option<String>,
                    ) = sqlx::query_as(&format!(
                        "UPDATE processing_jobs \
                         SET state = 'running', attempts = attempts + 1, lease_owner = $2, \
                             claimed_by = $2, lease_until = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', $3), \
                             updated_at = {SQLITE_NOW} \
                         WHERE id = $1 \
                         RETURNING id, score_id, stage, attempts, causation_id, correlation_id, request_id"
                    ))
                    .bind(id)
                    .bind(&self.worker)
                    .bind(sqlite_offset(self.lease))
                    .fetch_one(&mut *transaction)
                    .await?;
                    rows.push((
                        id,
                        score_id,
                        stage,
                        attempts,
                        previous_owner,
                        causation,
                        correlation,
                        request,
                    ));
                }
                transaction.commit().await?;
                rows
            }
        };
        rows.into_iter().map(job_from_row).collect()
    }

    /// Claims the job of `stage` for `score_id` at once, whatever its state, creating it if
    /// missing (an operator's retry); `None` while another process holds a live lease on it.
    pub async fn claim_for_retry(
        &self,
        score_id: &str,
        stage: ProcessingStage,
        request_id: &str,
    ) -> Result<Option<Job>, JobError> {
        let row: Option<JobRow> = match &self.database {
            Database::Postgres(pool) => {
                sqlx::query_as(
                    "INSERT INTO processing_jobs AS job \
                         (score_id, stage, state, attempts, lease_owner, claimed_by, lease_until, request_id) \
                     VALUES ($1, $2, 'running', 1, $3, $3, now() + make_interval(secs => $4), $5) \
                     ON CONFLICT (score_id, stage) DO UPDATE \
                        SET state = 'running', attempts = job.attempts + 1, \
                            lease_owner = excluded.lease_owner, claimed_by = excluded.claimed_by, \
                            lease_until = excluded.lease_until, next_attempt_at = now(), \
                            outcome = NULL, finished_at = NULL, causation_id = NULL, \
                            correlation_id = NULL, request_id = excluded.request_id, \
                            updated_at = now() \
                      WHERE job.state <> 'running' OR job.lease_until < now() \
                     RETURNING id, score_id, stage, attempts, NULL::text, causation_id, \
                               correlation_id, request_id",
                )
                .bind(score_id)
                .bind(stage.as_str())
                .bind(&self.worker)
                .bind(self.lease.as_secs_f64())
                .bind(request_id)
                .fetch_optional(pool)
                .await?
            }
            Database::Sqlite(pool) => {
                sqlx::query_as(&format!(
                    "INSERT INTO processing_jobs \
                         (score_id, stage, state, attempts, lease_owner, claimed_by, lease_until, request_id) \
                     VALUES ($1, $2, 'running', 1, $3, $3, strftime('%Y-%m-%dT%H:%M:%fZ', 'now', $4), $5) \
                     ON CONFLICT (score_id, stage) DO UPDATE \
                        SET state = 'running', attempts = processing_jobs.attempts + 1, \
                            lease_owner = excluded.lease_owner, claimed_by = excluded.claimed_by, \
                            lease_until = excluded.lease_until, next_attempt_at = {SQLITE_NOW}, \
                            outcome = NULL, finished_at = NULL, causation_id = NULL, \
                            correlation_id = NULL, request_id = excluded.request_id, \
                            updated_at = {SQLITE_NOW} \
                      WHERE processing_jobs.state <> 'running' \
                         OR processing_jobs.lease_until < {SQLITE_NOW} \
                     RETURNING id, score_id, stage, attempts, NULL, causation_id, \
                               correlation_id, request_id"
                ))
                .bind(score_id)
                .bind(stage.as_str())
                .bind(&self.worker)
                .bind(sqlite_offset(self.lease))
                .bind(request_id)
                .fetch_optional(pool)
                .await?
            }
        };
        row.map(job_from_row).transpose()
    }

    /// Extends the lease of `job`; `false` when the claim is no longer this one (another
    /// process took the job over after the lease ran out).
    pub async fn renew(&self, job: &Job) -> Result<bool, JobError> {
        let updated = match &self.database {
            Database::Postgres(pool) => sqlx::query(
                "UPDATE processing_jobs \
                 SET lease_until = now() + make_interval(secs => $3), updated_at = now() \
                 WHERE id = $1 AND attempts = $2 AND state = 'running'",
            )
            .bind(job.id)
            .bind(job.attempt)
            .bind(self.lease.as_secs_f64())
            .execute(pool)
            .await?
            .rows_affected(),
            Database::Sqlite(pool) => sqlx::query(&format!(
                "UPDATE processing_jobs \
                 SET lease_until = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', $3), \
                     updated_at = {SQLITE_NOW} \
                 WHERE id = $1 AND attempts = $2 AND state = 'running'"
            ))
            .bind(job.id)
            .bind(job.attempt)
            .bind(sqlite_offset(self.lease))
            .execute(pool)
            .await?
            .rows_affected(),
        };
        Ok(updated > 0)
    }

    /// Marks `job` done with its `outcome` label; `false` when the claim is no longer this
    /// one (the job's new owner will find the result recorded and finish it).
    pub async fn finish(
        &self,
        job: &Job,
        outcome: &str,
        error: Option<&str>,
    ) -> Result<bool, JobError> {
        let updated = match &self.database {
            Database::Postgres(pool) => sqlx::query(
                "UPDATE processing_jobs \
                 SET state = 'done', outcome = $3, last_error = $4, lease_owner = NULL, \
                     lease_until = NULL, finished_at = now(), updated_at = now() \
                 WHERE id = $1 AND attempts = $2 AND state = 'running'",
            )
            .bind(job.id)
            .bind(job.attempt)
            .bind(outcome)
            .bind(error)
            .execute(pool)
            .await?
            .rows_affected(),
            Database::Sqlite(pool) => sqlx::query(&format!(
                "UPDATE processing_jobs \
                 SET state = 'done', outcome = $3, last_error = $4, lease_owner = NULL, \
                     lease_until = NULL, finished_at = {SQLITE_NOW}, updated_at = {SQLITE_NOW} \
                 WHERE id = $1 AND attempts = $2 AND state = 'running'"
            ))
            .bind(job.id)
            .bind(job.attempt)
            .bind(outcome)
            .bind(error)
            .execute(pool)
            .await?
            .rows_affected(),
        };
        Ok(updated > 0)
    }

    /// Queues `job` again, due after `delay`, remembering why it failed; `false` when the
    /// claim is no longer this one.
    pub async fn retry_later(
        &self,
        job: &Job,
        delay: Duration,
        error: &str,
    ) -> Result<bool, JobError> {
        let updated = match &self.database {
            Database::Postgres(pool) => sqlx::query(
                "UPDATE processing_jobs \
                 SET state = 'queued', next_attempt_at = now() + make_interval(secs => $3), \
                     last_error = $4, lease_owner = NULL, lease_until = NULL, updated_at = now() \
                 WHERE id = $1 AND attempts = $2 AND state = 'running'",
            )
            .bind(job.id)
            .bind(job.attempt)
            .bind(delay.as_secs_f64())
            .bind(error)
            .execute(pool)
            .await?
            .rows_affected(),
            Database::Sqlite(pool) => sqlx::query(&format!(
                "UPDATE processing_jobs \
                 SET state = 'queued', \
                     next_attempt_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', $3), \
                     last_error = $4, lease_owner = NULL, lease_until = NULL, \
                     updated_at = {SQLITE_NOW} \
                 WHERE id = $1 AND attempts = $2 AND state = 'running'"
            ))
            .bind(job.id)
            .bind(job.attempt)
            .bind(sqlite_offset(delay))
            .bind(error)
            .execute(pool)
            .await?
            .rows_affected(),
        };
        Ok(updated > 0)
    }
}

impl JobQueue {
    /// Queues again, due at once, every job this process holds (at shutdown, once its
    /// claim loop is stopped): other processes need not wait for the leases to run out.
    /// Answers how many. A job whose command was appended just before the stop runs again
    /// and finds its result recorded.
    pub async fn release_all(&self) -> Result<u64, JobError> {
        let released = match &self.database {
            Database::Postgres(pool) => sqlx::query(
                "UPDATE processing_jobs \
                 SET state = 'queued', next_attempt_at = now(), lease_owner = NULL, \
                     lease_until = NULL, updated_at = now() \
                 WHERE state = 'running' AND lease_owner = $1",
            )
            .bind(&self.worker)
            .execute(pool)
            .await?
            .rows_affected(),
            Database::Sqlite(pool) => sqlx::query(&format!(
                "UPDATE processing_jobs \
                 SET state = 'queued', next_attempt_at = {SQLITE_NOW}, lease_owner = NULL, \
                     lease_until = NULL, updated_at = {SQLITE_NOW} \
                 WHERE state = 'running' AND lease_owner = $1"
            ))
            .bind(&self.worker)
            .execute(pool)
            .await?
            .rows_affected(),
        };
        Ok(released)
    }
}

/// The wait before a job that failed transiently on its `attempt`-th claim is due again:
/// 1 s, doubling, at most 5 minutes. There is no last attempt: a transient failure is the
/// machinery's (object store, sandbox start, database), never the file's, so giving up
/// would mark a good file failed.
#[must_use]
pub fn backoff(attempt: i64) -> Duration {
    let doublings = u32::try_from(attempt.clamp(1, 10) - 1).unwrap_or(0);
    Duration::from_secs((1_u64 << doublings).min(300))
}

/// The log follower of one stage: turns `UploadConfirmed` into a job of that stage.
pub struct JobFeed {
    stage: ProcessingStage,
    database: Database,
    /// Told when jobs were enqueued, so this process's claim loop looks at once.
    enqueued: Arc<Notify>,
    /// One step at a time in this process (see `ProcessorRunner::run_step`).
    local: tokio::sync::Mutex<()>,
    batch: u32,
    progress: Progress,
}

impl JobFeed {
    pub fn new(stage: ProcessingStage, database: Database, enqueued: Arc<Notify>) -> Self {
        Self {
            stage,
            database,
            enqueued,
            local: tokio::sync::Mutex::new(()),
            batch: 500,
            progress: Progress::default(),
        }
    }

    /// Enqueues the jobs of the next batch of events and moves the checkpoint past them,
    /// in one transaction, under the stage's advisory lock.
    pub async fn run_step(&self) -> Result<Step, ProjectionError> {
        let _local = self.local.lock().await;
        let name = self.stage.as_str();
        let Some(lock) = AdvisoryLock::try_acquire(&self.database, name).await? else {
            return Ok(Step::Idle);
        };
        let result = self.feed(name).await;
        lock.release().await?;
        let (step, enqueued) = result?;
        if enqueued > 0 {
            self.enqueued.notify_one();
        }
        Ok(step)
    }

    /// Looks for new events without a write transaction (the lock taken by `run_step`
    /// keeps the checkpoint still meanwhile); only a batch with events takes one.
    async fn feed(&self, name: &'static str) -> Result<(Step, usize), ProjectionError> {
        let checkpoint = peek_checkpoint(&self.database, name).await?;
        self.progress.reached(checkpoint);
        let events = EventLog::new(self.database.clone())
            .read_after(checkpoint, self.batch)
            .await?;
        let Some(last) = events.last().map(|event| event.cursor) else {
            return Ok((Step::Idle, 0));
        };
        let mut tx = ReadModelTx::begin(&self.database).await?;
        let mut enqueued = 0;
        for event in &events {
            if self.starts_a_job(event)
                && enqueue(&mut tx, self.stage, &event.aggregate_id, &caused_by(event)).await?
            {
                enqueued += 1;
            }
        }
        write_checkpoint(&mut tx, name, last).await?;
        tx.commit().await?;
        self.progress.reached(last);
        Ok((Step::Handled(events.len()), enqueued))
    }

    fn starts_a_job(&self, event: &RecordedEvent) -> bool {
        match score_event(event) {
            Ok(Some(aggregates::ScoreEvent::UploadConfirmed { .. })) => true,
            Ok(_) => false,
            // As every processor does with an event it cannot read: say so, and go on.
            Err(error) => {
                tracing::error!(processor = self.stage.as_str(), position = event.position(), %error, "event could not be processed");
                false
            }
        }
    }
}

impl Follower for JobFeed {
    fn name(&self) -> &'static str {
        self.stage.as_str()
    }

    fn step(
        &self,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<Step, ProjectionError>> + Send + '_>> {
        let span = tracing::debug_span!("processor", name = self.stage.as_str());
        Box::pin(self.run_step().instrument(span))
    }

    fn reached(&self) -> eventstore::LogCursor {
        self.progress.get()
    }
}

/// What became of a claimed job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    /// Done: the stage ran, or found nothing left to do.
    Done(StageOutcome),
    /// Done without effect: the Score refused the command (logged as an error).
    Refused(String),
    /// Failed transiently: queued again, due after `after`.
    RetryLater { reason: String, after: Duration },
    /// Another process took the job over while it ran (this one's lease ran out); the
    /// new owner finishes it.
    LeaseLost,
}

/// Runs PDF jobs: up to `concurrency` at once in this process.
pub struct PdfJobs {
    queue: JobQueue,
    pdf_info: PdfProcessing,
    thumbnail: PdfProcessing,
    concurrency: usize,
}

impl PdfJobs {
    /// `concurrency` is at least 1. Each stage's processing must be of that stage.
    pub fn new(
        queue: JobQueue,
        pdf_info: PdfProcessing,
        thumbnail: PdfProcessing,
        concurrency: usize,
    ) -> Self {
        Self {
            queue,
            pdf_info,
            thumbnail,
            concurrency: concurrency.max(1),
        }
    }

    pub const fn queue(&self) -> &JobQueue {
        &self.queue
    }

    pub const fn concurrency(&self) -> usize {
        self.concurrency
    }

    const fn processing(&self, stage: ProcessingStage) -> &PdfProcessing {
        match stage {
            ProcessingStage::PdfInfo => &self.pdf_info,
            ProcessingStage::Thumbnail => &self.thumbnail,
        }
    }

    /// Runs one claimed job while renewing its lease, and records its outcome in the
    /// table. An error leaves the job running: it runs again once the lease has run out.
    pub async fn run(&self, job: &Job) -> Result<JobOutcome, JobError> {
        if let Some(previous) = &job.taken_over_from {
            tracing::warn!(previous_owner = %previous, attempt = job.attempt, "taking over a job whose lease ran out");
        }
        let processing = self.processing(job.stage);
        let metadata = job.metadata();
        let result = tokio::select! {
            result = processing.run_on(&job.score_id, &metadata) => result,
            () = self.hold_lease(job) => {
                // Dropping the work kills its sandbox child; the new owner runs it again.
                tracing::warn!("another process took the job over; abandoning it");
                return Ok(JobOutcome::LeaseLost);
            }
        };
        let (outcome, stored) = match result {
            Ok(outcome) => {
                let reason = match &outcome {
                    StageOutcome::Failed(reason) => Some(reason.as_str()),
                    StageOutcome::Succeeded | StageOutcome::Skipped => None,
                };
                let stored = self.queue.finish(job, outcome.as_str(), reason).await?;
                tracing::info!(
                    outcome = outcome.as_str(),
                    attempt = job.attempt,
                    "job done"
                );
                (JobOutcome::Done(outcome), stored)
            }
            Err(ProcessorError::Permanent(reason)) => {
                tracing::error!(%reason, "the score refused the job's command");
                let stored = self.queue.finish(job, "error", Some(&reason)).await?;
                (JobOutcome::Refused(reason), stored)
            }
            Err(ProcessorError::Transient(reason)) => {
                let after = backoff(job.attempt);
                tracing::warn!(%reason, attempt = job.attempt, retry_in_secs = after.as_secs(), "job failed; retrying later");
                let stored = self.queue.retry_later(job, after, &reason).await?;
                (JobOutcome::RetryLater { reason, after }, stored)
            }
        };
        if !stored {
            tracing::warn!(
                "another process took the job over meanwhile; it will find the result recorded"
            );
        }
        Ok(outcome)
    }

    /// Renews the lease of `job` every third of its length; returns once the claim is
    /// lost. A database error is retried at the next renewal: the lease has time left.
    async fn hold_lease(&self, job: &Job) {
        let every = self.queue.lease / 3;
        loop {
            tokio::time::sleep(every).await;
            match self.queue.renew(job).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(error) => tracing::warn!(%error, "could not renew the job's lease"),
            }
        }
    }

    /// `run`, in the job's span, logging what could not be stored.
    async fn run_logged(self: Arc<Self>, job: Job) {
        let span = tracing::info_span!(
            "pdf_job",
            job = job.id,
            stage = job.stage.as_str(),
            score = %job.score_id,
            worker = %self.queue.worker
        );
        async {
            if let Err(error) = self.run(&job).await {
                tracing::warn!(%error, "could not store the job's outcome; it runs again when its lease runs out");
            }
        }
        .instrument(span)
        .await;
    }

    /// Claims and runs due jobs, `concurrency` at a time, until none is due; answers how
    /// many ran. For tests, which drain the queue step by step.
    pub async fn run_until_idle(self: &Arc<Self>) -> Result<usize, JobError> {
        let mut total = 0;
        loop {
            let jobs = self.queue.claim(self.concurrency).await?;
            if jobs.is_empty() {
                return Ok(total);
            }
            total += jobs.len();
            let mut running = JoinSet::new();
            for job in jobs {
                running.spawn(Arc::clone(self).run_logged(job));
            }
            while let Some(joined) = running.join_next().await {
                log_join(joined);
            }
        }
    }

    /// The claim loop: keeps up to `concurrency` jobs running, claiming more when one
    /// ends, when `wake` is notified (jobs enqueued, here or — on PostgreSQL — anywhere)
    /// and every `poll` (back-offs that ended, leases that ran out, lost wake-ups).
    /// Aborting it drops the running jobs (their sandbox children are killed); their
    /// leases run out and another process runs them.
    pub async fn run_forever(self: Arc<Self>, wake: Arc<Notify>, poll: Duration) {
        let mut running = JoinSet::new();
        let mut ticker = tokio::time::interval(poll);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let free = self.concurrency.saturating_sub(running.len());
            if free > 0 {
                match self.queue.claim(free).await {
                    Ok(jobs) => {
                        for job in jobs {
                            running.spawn(Arc::clone(&self).run_logged(job));
                        }
                    }
                    Err(error) => tracing::warn!(%error, "claiming PDF jobs failed; retrying"),
                }
            }
            tokio::select! {
                Some(joined) = running.join_next() => log_join(joined),
                _ = ticker.tick() => {}
                () = wake.notified() => {}
            }
        }
    }

    /// Runs the job of `stage` for `score_id` now, whatever its state (an operator's
    /// retry), as a claim of this process; `None` while another process runs it.
    pub async fn retry(
        &self,
        score_id: &str,
        stage: ProcessingStage,
        request_id: &str,
    ) -> Result<Option<JobOutcome>, JobError> {
        let Some(job) = self
            .queue
            .claim_for_retry(score_id, stage, request_id)
            .await?
        else {
            return Ok(None);
        };
        self.run(&job).await.map(Some)
    }
}

fn log_join(joined: Result<(), tokio::task::JoinError>) {
    if let Err(error) = joined
        && error.is_panic()
    {
        tracing::error!(%error, "a PDF job panicked; it runs again when its lease runs out");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_back_off_doubles_from_one_second_up_to_five_minutes() {
        let waits: Vec<u64> = (0..=12).map(|attempt| backoff(attempt).as_secs()).collect();
        assert_eq!(waits, [1, 1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
    }

    #[test]
    fn stages_are_read_back_by_their_names() {
        for stage in [ProcessingStage::PdfInfo, ProcessingStage::Thumbnail] {
            assert_eq!(parse_stage(stage.as_str()).ok(), Some(stage));
        }
        assert!(matches!(
            parse_stage("ocr"),
            Err(JobError::UnknownStage(name)) if name == "ocr"
        ));
    }

    #[test]
    fn sqlite_offsets_are_date_modifiers() {
        assert_eq!(
            sqlite_offset(Duration::from_millis(30_500)),
            "+30.500 seconds"
        );
    }
}
