use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use eventstore::{
    Database, EventLog, LogCursor, RecordedEvent, read_after_postgres, read_after_sqlite,
};
use tokio::sync::Notify;
use tracing::Instrument;

use crate::changes::{OwnerChanges, Owners, owner_notifications};
use crate::checkpoint::{
    Checkpoint, announce_checkpoint, claim_checkpoint, read_checkpoint, write_checkpoint,
};
use crate::error::ProjectionError;
use crate::progress::Progress;
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
/// `apply_batch` must be idempotent per event only in the sense that it is never asked twice:
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

    /// A batch of events in log order, leaving exactly the rows that applying them one by
    /// one would: a few set-based statements per table (load the touched rows, fold in
    /// memory, write back). The test `batched_projections` holds every projection to the
    /// one-by-one result ([`OneByOne`]).
    fn apply_batch(
        &self,
        tx: &mut ReadModelTx<'_>,
        events: &[RecordedEvent],
    ) -> impl Future<Output = Result<(), ProjectionError>> + Send;

    /// `apply_batch`, answering whose rows it wrote. The read models clients sync from
    /// (`scores`, `setlists`, `quota`) name the owners, so that their long-polls wake;
    /// the others need not.
    fn apply_batch_for_owners(
        &self,
        tx: &mut ReadModelTx<'_>,
        events: &[RecordedEvent],
    ) -> impl Future<Output = Result<Owners, ProjectionError>> + Send {
        async move { self.apply_batch(tx, events).await.map(|()| Owners::new()) }
    }

    /// One event: a batch of one.
    fn apply(
        &self,
        tx: &mut ReadModelTx<'_>,
        event: &RecordedEvent,
    ) -> impl Future<Output = Result<(), ProjectionError>> + Send {
        self.apply_batch(tx, std::slice::from_ref(event))
    }
}

/// A projection applied one event at a time (its `apply` only): the reference its
/// batched path is compared with.
#[derive(Debug, Clone, Copy, Default)]
pub struct OneByOne<P>(pub P);

impl<P: Projection> Projection for OneByOne<P> {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn checkpoint_key(&self) -> &'static str {
        self.0.checkpoint_key()
    }

    fn tables(&self) -> &'static [&'static str] {
        self.0.tables()
    }

    /// Each event in a batch of its own: the reference the batched path is compared with.
    async fn apply_batch(
        &self,
        tx: &mut ReadModelTx<'_>,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        for event in events {
            self.0.apply(tx, event).await?;
        }
        Ok(())
    }
}

/// Anything the serve loop drives step by step (projections and processors alike).
pub trait Follower: Send + Sync {
    fn name(&self) -> &'static str;
    fn step(&self) -> Pin<Box<dyn Future<Output = Result<Step, ProjectionError>> + Send + '_>>;

    /// A lower bound of its checkpoint, known without a database read: a follower that
    /// has reached the log head has nothing to do.
    fn reached(&self) -> LogCursor;

    /// Another instance announced that the checkpoint `key` reached `cursor`.
    fn heard(&self, _key: &str, _cursor: LogCursor) {}
}

impl<F: Follower + ?Sized> Follower for Arc<F> {
    fn name(&self) -> &'static str {
        (**self).name()
    }

    fn step(&self) -> Pin<Box<dyn Future<Output = Result<Step, ProjectionError>> + Send + '_>> {
        (**self).step()
    }

    fn reached(&self) -> LogCursor {
        (**self).reached()
    }

    fn heard(&self, key: &str, cursor: LogCursor) {
        (**self).heard(key, cursor);
    }
}

/// One batch inside `tx`: lock the checkpoint, read the next events, apply them, move the
/// checkpoint. The caller commits.
pub async fn step_in<P: Projection>(
    projection: &P,
    tx: &mut ReadModelTx<'_>,
    batch: u32,
) -> Result<Step, ProjectionError> {
    let checkpoint = read_checkpoint(tx, projection.checkpoint_key()).await?;
    Ok(step_from(projection, tx, checkpoint, batch).await?.step)
}

/// What a step inside a transaction did, before the commit.
struct Stepped {
    step: Step,
    checkpoint: LogCursor,
    owners: Owners,
}

/// The batch after `checkpoint`, whose lock `tx` holds: read, applied, the checkpoint
/// moved past it.
async fn step_from<P: Projection>(
    projection: &P,
    tx: &mut ReadModelTx<'_>,
    checkpoint: Checkpoint,
    batch: u32,
) -> Result<Stepped, ProjectionError> {
    let name = projection.checkpoint_key();
    let events = match tx {
        ReadModelTx::Sqlite(transaction, _) => {
            read_after_sqlite(transaction, checkpoint, batch).await?
        }
        ReadModelTx::Postgres(transaction) => {
            read_after_postgres(transaction, checkpoint, batch).await?
        }
    };
    let Some(last) = events.last().map(|event| event.cursor) else {
        return Ok(Stepped {
            step: Step::Idle,
            checkpoint,
            owners: Owners::new(),
        });
    };
    let owners = projection.apply_batch_for_owners(tx, &events).await?;
    write_checkpoint(tx, name, last).await?;
    Ok(Stepped {
        step: Step::Handled(events.len()),
        checkpoint: last,
        owners,
    })
}

/// Drives one projection over the log, a batch per step.
pub struct ProjectionRunner<P> {
    projection: P,
    database: Database,
    batch: u32,
    progress: Progress,
    /// Wakes `follow`: a request waiting for its change to be applied, or an append.
    wake: Arc<Notify>,
    /// Whether `follow` runs for this runner; without it, waiters step it themselves.
    followed: AtomicBool,
    /// Whether the last step found another instance applying a batch (PostgreSQL).
    busy_elsewhere: AtomicBool,
    /// Told the owners each committed batch wrote (long-polls of the change feed).
    changes: Option<Arc<OwnerChanges>>,
}

/// How long a waiter lets the follow loop work before waking it again: on PostgreSQL a
/// step finds nothing while an older transaction is still open, and nobody else would
/// wake the loop when that one commits. Such a transaction is usually another follower's
/// step of a millisecond or two, and an idle step is one read, so the quantum is short.
const REWAKE: Duration = Duration::from_millis(1);

/// How long a follow loop that found another instance applying a batch waits for that
/// instance's announced commit before it looks again (should that instance have died
/// mid-step, nothing is announced).
const BUSY_RETRY: Duration = Duration::from_millis(20);

impl<P: Projection> ProjectionRunner<P> {
    pub fn new(projection: P, database: Database) -> Self {
        Self {
            projection,
            database,
            batch: 500,
            progress: Progress::default(),
            wake: Arc::new(Notify::new()),
            followed: AtomicBool::new(false),
            busy_elsewhere: AtomicBool::new(false),
            changes: None,
        }
    }

    /// Tells `changes` (here, and other processes through `NOTIFY`) whose rows each
    /// committed batch wrote.
    #[must_use]
    pub fn announcing_to(mut self, changes: Arc<OwnerChanges>) -> Self {
        self.changes = Some(changes);
        self
    }

    pub const fn projection(&self) -> &P {
        &self.projection
    }

    /// What wakes the follow loop: told by the stores whose events this read model shows,
    /// the loop starts on a change while the request that made it is still busy (with its
    /// quota step, say), so the request seldom has to wait for it afterwards.
    pub fn waker(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }

    /// Lock checkpoint → read the next events → apply → save checkpoint → commit.
    pub async fn run_step(&self) -> Result<Step, ProjectionError> {
        // Most steps find nothing (a waiter's wake after the work was done, the interval):
        // one read past the known checkpoint answers that without a transaction, which on
        // SQLite would wait for the write turn and on PostgreSQL costs four round trips.
        let known = self.progress.get();
        if EventLog::new(self.database.clone())
            .read_after(known, 1)
            .await?
            .is_empty()
        {
            return Ok(Step::Idle);
        }
        let mut tx = ReadModelTx::begin(&self.database).await?;
        let key = self.projection.checkpoint_key();
        let Some(claimed) = claim_checkpoint(&mut tx, key).await? else {
            // Another instance is applying the next batch; queueing behind its lock with a
            // transaction open would hold every follower's log horizon back meanwhile.
            tx.rollback().await?;
            self.busy_elsewhere.store(true, Ordering::Release);
            return Ok(Step::Idle);
        };
        self.busy_elsewhere.store(false, Ordering::Release);
        let Stepped {
            step,
            checkpoint,
            owners,
        } = step_from(&self.projection, &mut tx, claimed, self.batch).await?;
        match step {
            Step::Handled(_) => {
                let changes = self.changes.as_ref().filter(|_| !owners.is_empty());
                let more = if changes.is_some() {
                    owner_notifications(&owners)
                } else {
                    Vec::new()
                };
                announce_checkpoint(&mut tx, key, checkpoint, more).await?;
                tx.commit().await?;
                if let Some(changes) = changes {
                    changes.announce(owners.iter().map(String::as_str));
                }
            }
            Step::Idle => tx.rollback().await?,
        }
        self.progress.reached(checkpoint);
        // A full batch is a catch-up, which is how a read model grows in bulk.
        if let Step::Handled(count) = step
            && u32::try_from(count).is_ok_and(|count| count >= self.batch)
        {
            crate::statistics::refresh_grown(&self.database, self.projection.tables()).await?;
        }
        Ok(step)
    }

    /// Keeps the projection at the head of the log: steps it until idle whenever a waiter
    /// wakes it, and every `interval` (events of other instances). Concurrent waiters
    /// share its steps, so a burst of commands costs one transaction per batch, not one
    /// per request, and no request queues on the checkpoint's lock.
    pub async fn follow(self: Arc<Self>, interval: Duration) {
        self.followed.store(true, Ordering::Release);
        let _unfollow = Unfollow(&self.followed);
        loop {
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(interval) => {}
            }
            loop {
                match self.run_step().await {
                    Ok(Step::Handled(_)) => {}
                    Ok(Step::Idle) if self.busy_elsewhere.load(Ordering::Acquire) => {
                        // Its commit is announced (`heard`); what it did not cover is
                        // this loop's to apply then.
                        let mut progress = self.progress.subscribe();
                        let _ = tokio::time::timeout(BUSY_RETRY, progress.changed()).await;
                    }
                    Ok(Step::Idle) => break,
                    Err(error) => {
                        tracing::warn!(projection = self.projection.name(), %error, "step failed; retrying later");
                        break;
                    }
                }
            }
        }
    }

    /// Waits until the checkpoint has reached `target` (read-your-writes), giving up at
    /// `deadline`; answers whether it got there. The follow loop does the work; without
    /// one, the caller steps the projection itself.
    pub async fn wait_for(
        &self,
        target: LogCursor,
        deadline: std::time::Instant,
    ) -> Result<bool, ProjectionError> {
        let mut progress = self.progress.subscribe();
        loop {
            if *progress.borrow_and_update() >= target {
                return Ok(true);
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            if self.followed.load(Ordering::Acquire) {
                self.wake.notify_one();
                let _ = tokio::time::timeout(REWAKE.min(deadline - now), progress.changed()).await;
            } else if self.run_step().await? == Step::Idle {
                // An older transaction elsewhere still holds the log back (PostgreSQL).
                tokio::time::sleep(REWAKE.min(deadline - now)).await;
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

/// Clears the followed flag when the follow loop ends (aborted at shutdown).
struct Unfollow<'a>(&'a AtomicBool);

impl Drop for Unfollow<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
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

    fn reached(&self) -> LogCursor {
        self.progress.get()
    }

    fn heard(&self, key: &str, cursor: LogCursor) {
        if key == self.projection.checkpoint_key() {
            self.progress.reached(cursor);
        }
    }
}
