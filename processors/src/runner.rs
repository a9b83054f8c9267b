//! Drives processors over the global log: at-least-once, so every processor's effects
//! are idempotent (commands that decide "no change" the second time, deletes of what is
//! already gone). One runner per processor name at a time: a PostgreSQL advisory lock
//! across instances and workers ([`AdvisoryLock`]), a mutex within one process.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use eventstore::{Database, EventLog, LogCursor, RecordedEvent};
use projections::{
    Follower, Progress, ProjectionError, ReadModelTx, Step, peek_checkpoint, write_checkpoint,
};
use sqlx::Postgres;
use sqlx::pool::PoolConnection;
use tracing::Instrument;

/// How a processor's reaction to one event failed.
#[derive(Debug, thiserror::Error)]
pub enum ProcessorError {
    /// Worth retrying (the database or object store is unavailable).
    #[error("transient: {0}")]
    Transient(String),
    /// Retrying cannot help; the processor has recorded what it could and moves on.
    #[error("permanent: {0}")]
    Permanent(String),
}

/// An unavailable store is worth a retry; anything else it says will not change.
impl From<objectstore::ObjectStoreError> for ProcessorError {
    fn from(error: objectstore::ObjectStoreError) -> Self {
        if error.is_transient() {
            Self::Transient(error.to_string())
        } else {
            Self::Permanent(error.to_string())
        }
    }
}

/// A reaction to events of the log.
pub trait Processor: Send + Sync + 'static {
    /// The checkpoint key, stable forever.
    fn name(&self) -> &'static str;

    fn handle(
        &self,
        event: &RecordedEvent,
    ) -> impl Future<Output = Result<(), ProcessorError>> + Send;
}

const TRANSIENT_ATTEMPTS: u32 = 3;

/// The cross-process lock of one follower name: a PostgreSQL session advisory lock, held on
/// a connection taken out of the pool for the time of one step. SQLite serves one process,
/// whose runners take a mutex instead.
pub struct AdvisoryLock {
    connection: Option<PoolConnection<Postgres>>,
    name: &'static str,
}

impl AdvisoryLock {
    /// The lock of `name`, or `None` while another process holds it.
    pub async fn try_acquire(
        database: &Database,
        name: &'static str,
    ) -> Result<Option<Self>, sqlx::Error> {
        let connection = match database {
            Database::Postgres(pool) => {
                let mut connection = pool.acquire().await?;
                let acquired: bool =
                    sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1))")
                        .bind(name)
                        .fetch_one(&mut *connection)
                        .await?;
                if !acquired {
                    return Ok(None);
                }
                Some(connection)
            }
            Database::Sqlite(_) => None,
        };
        Ok(Some(Self { connection, name }))
    }

    /// Releases the lock and gives the connection back to the pool.
    pub async fn release(mut self) -> Result<(), sqlx::Error> {
        let Some(mut connection) = self.connection.take() else {
            return Ok(());
        };
        let unlocked = sqlx::query("SELECT pg_advisory_unlock(hashtext($1))")
            .bind(self.name)
            .execute(&mut *connection)
            .await;
        if unlocked.is_err() {
            // A pooled connection must never keep the lock: closing the session drops it.
            let _ = connection.close().await;
        }
        unlocked.map(|_| ())
    }
}

impl Drop for AdvisoryLock {
    /// A step cancelled half-way (shutdown) must not hand a locked connection back to
    /// the pool: the connection leaves the pool and its session, with the lock, ends.
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            drop(connection.detach());
        }
    }
}

pub struct ProcessorRunner<P> {
    processor: P,
    database: Database,
    log: EventLog,
    local: tokio::sync::Mutex<()>,
    batch: u32,
    progress: Progress,
}

impl<P: Processor> ProcessorRunner<P> {
    pub fn new(processor: P, database: Database) -> Self {
        Self {
            processor,
            log: EventLog::new(database.clone()),
            database,
            local: tokio::sync::Mutex::new(()),
            batch: 100,
            progress: Progress::default(),
        }
    }

    pub fn processor(&self) -> &P {
        &self.processor
    }

    /// Handles the next batch of events and moves the checkpoint past each one handled.
    pub async fn run_step(&self) -> Result<Step, ProjectionError> {
        // Wait for a step of this process that is under way: when this one answers Idle,
        // everything committed before the call has been handled.
        let _local = self.local.lock().await;
        let name = self.processor.name();
        let Some(lock) = AdvisoryLock::try_acquire(&self.database, name).await? else {
            return Ok(Step::Idle);
        };
        let result = self.handle_batch(name).await;
        lock.release().await?;
        result
    }

    /// Reads the checkpoint and the batch without a write transaction; after handling,
    /// moves the checkpoint once, past the last event handled. A crash in between handles
    /// those events again, which the processors' idempotence makes harmless.
    async fn handle_batch(&self, name: &'static str) -> Result<Step, ProjectionError> {
        let checkpoint = peek_checkpoint(&self.database, name).await?;
        self.progress.reached(checkpoint);
        let events = self.log.read_after(checkpoint, self.batch).await?;
        let mut handled = 0;
        let mut last = None;
        for event in &events {
            if let Err(error) = self.handle_with_retries(event).await {
                tracing::warn!(processor = name, position = event.position(), %error, "giving up on this batch for now");
                break;
            }
            handled += 1;
            last = Some(event.cursor);
        }
        let Some(last) = last else {
            return Ok(Step::Idle);
        };
        let mut tx = ReadModelTx::begin(&self.database).await?;
        write_checkpoint(&mut tx, name, last).await?;
        tx.commit().await?;
        self.progress.reached(last);
        Ok(Step::Handled(handled))
    }

    /// Transient failures are retried with back-off; permanent ones are logged and passed.
    async fn handle_with_retries(&self, event: &RecordedEvent) -> Result<(), ProcessorError> {
        let mut delay = Duration::from_millis(50);
        for attempt in 1..=TRANSIENT_ATTEMPTS {
            match self.processor.handle(event).await {
                Ok(()) => return Ok(()),
                Err(ProcessorError::Permanent(reason)) => {
                    tracing::error!(processor = self.processor.name(), position = event.position(), %reason, "event could not be processed");
                    return Ok(());
                }
                Err(ProcessorError::Transient(reason)) if attempt < TRANSIENT_ATTEMPTS => {
                    tracing::warn!(processor = self.processor.name(), attempt, %reason, "retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 4;
                }
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    pub async fn run_until_idle(&self) -> Result<usize, ProjectionError> {
        let mut total = 0;
        while let Step::Handled(count) = self.run_step().await? {
            total += count;
        }
        Ok(total)
    }
}

impl<P: Processor> Follower for ProcessorRunner<P> {
    fn name(&self) -> &'static str {
        self.processor.name()
    }

    fn step(&self) -> Pin<Box<dyn Future<Output = Result<Step, ProjectionError>> + Send + '_>> {
        let span = tracing::debug_span!("processor", name = self.processor.name());
        Box::pin(self.run_step().instrument(span))
    }

    fn reached(&self) -> LogCursor {
        self.progress.get()
    }
}
