use std::future::Future;
use std::pin::Pin;

use eventstore::{Database, RecordedEvent, read_after_postgres, read_after_sqlite};
use tracing::Instrument;

use crate::checkpoint::{read_checkpoint, write_checkpoint};
use crate::error::ProjectionError;
use crate::transaction::ReadModelTx;

/// What one runner step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Applied this many events and moved the checkpoint past them.
    Handled(usize),
    /// Nothing readable after the checkpoint right now.
    Idle,
}

/// A read model: applies events inside the transaction that also moves its checkpoint.
/// `apply` must be idempotent per event only in the sense that it is never asked twice:
/// the transaction makes each event count exactly once.
pub trait Projection: Send + Sync + 'static {
    /// The name operators use (`projections rebuild NAME`) and the tracing span.
    fn name(&self) -> &'static str;

    /// The checkpoint key, stable forever; the name unless that is taken by a processor.
    fn checkpoint_key(&self) -> &'static str {
        self.name()
    }

    /// The tables it owns, parents before children; a rebuild recreates exactly these.
    fn tables(&self) -> &'static [&'static str];

    fn apply(
        &self,
        tx: &mut ReadModelTx<'_>,
        event: &RecordedEvent,
    ) -> impl Future<Output = Result<(), ProjectionError>> + Send;
}

/// Anything the serve loop drives step by step (projections and processors alike).
pub trait Follower: Send + Sync {
    fn name(&self) -> &'static str;
    fn step(&self) -> Pin<Box<dyn Future<Output = Result<Step, ProjectionError>> + Send + '_>>;
}

/// One batch inside `tx`: lock the checkpoint, read the next events, apply them, move the
/// checkpoint. The caller commits.
pub async fn step_in<P: Projection>(
    projection: &P,
    tx: &mut ReadModelTx<'_>,
    batch: u32,
) -> Result<Step, ProjectionError> {
    let name = projection.checkpoint_key();
    let checkpoint = read_checkpoint(tx, name).await?;
    let events = match tx {
        ReadModelTx::Sqlite(transaction) => {
            read_after_sqlite(transaction, checkpoint, batch).await?
        }
        ReadModelTx::Postgres(transaction) => {
            read_after_postgres(transaction, checkpoint, batch).await?
        }
    };
    let Some(last) = events.last().map(|event| event.cursor) else {
        return Ok(Step::Idle);
    };
    for event in &events {
        projection.apply(tx, event).await?;
    }
    write_checkpoint(tx, name, last).await?;
    Ok(Step::Handled(events.len()))
}

/// Drives one projection over the log, a batch per step.
pub struct ProjectionRunner<P> {
    projection: P,
    database: Database,
    batch: u32,
}

impl<P: Projection> ProjectionRunner<P> {
    pub fn new(projection: P, database: Database) -> Self {
        Self {
            projection,
            database,
            batch: 500,
        }
    }

    pub const fn projection(&self) -> &P {
        &self.projection
    }

    /// Lock checkpoint → read the next events → apply → save checkpoint → commit.
    pub async fn run_step(&self) -> Result<Step, ProjectionError> {
        let mut tx = ReadModelTx::begin(&self.database).await?;
        let step = step_in(&self.projection, &mut tx, self.batch).await?;
        match step {
            Step::Handled(_) => tx.commit().await?,
            Step::Idle => tx.rollback().await?,
        }
        Ok(step)
    }

    /// Steps until the checkpoint has reached `target` (read-your-writes), giving up at
    /// `deadline`; answers whether it got there.
    pub async fn catch_up(
        &self,
        target: eventstore::LogCursor,
        deadline: std::time::Instant,
    ) -> Result<bool, ProjectionError> {
        loop {
            let step = self.run_step().await?;
            let mut tx = ReadModelTx::begin_read(&self.database).await?;
            let reached =
                read_checkpoint(&mut tx, self.projection.checkpoint_key()).await? >= target;
            tx.rollback().await?;
            if reached {
                return Ok(true);
            }
            if std::time::Instant::now() >= deadline {
                return Ok(false);
            }
            if step == Step::Idle {
                // An older transaction elsewhere still holds the log back (PostgreSQL).
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        }
    }

    /// Steps until idle; for tests and rebuilds.
    pub async fn run_until_idle(&self) -> Result<usize, ProjectionError> {
        let mut total = 0;
        while let Step::Handled(count) = self.run_step().await? {
            total += count;
        }
        Ok(total)
    }
}

impl<P: Projection> Follower for ProjectionRunner<P> {
    fn name(&self) -> &'static str {
        self.projection.name()
    }

    fn step(&self) -> Pin<Box<dyn Future<Output = Result<Step, ProjectionError>> + Send + '_>> {
        let span = tracing::debug_span!("projection", name = self.projection.name());
        Box::pin(self.run_step().instrument(span))
    }
}
