use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::{EventStoreAggregateContext, PersistedEventStore};
use cqrs_es::{Aggregate, AggregateError, EventEnvelope, EventStore};
use tracing::Instrument;

use crate::database::Database;
use crate::error::CommandError;
use crate::metadata::EventMetadata;
use crate::repository::AnyEventRepository;
use crate::turns::Turns;

/// How often a command whose commit lost a race is decided again, and how long to back
/// off in between (exponential with full jitter, so the losers do not collide again).
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 12,
            base_delay: Duration::from_millis(2),
            max_delay: Duration::from_millis(250),
        }
    }
}

impl RetryPolicy {
    fn delay_before(&self, attempt: u32) -> Duration {
        let exponential = self
            .base_delay
            .saturating_mul(1_u32 << attempt.min(16))
            .min(self.max_delay);
        // Full jitter from the clock's nanoseconds: good enough to spread contenders, and
        // keeps a random-number crate out of the store.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.subsec_nanos());
        let span = u64::try_from(exponential.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        Duration::from_micros(u64::from(nanos) % span)
    }
}

/// How an aggregate type is persisted.
#[derive(Debug, Clone, Copy)]
pub enum Storage {
    /// Replay every event on load: for aggregates with short streams.
    Events,
    /// Keep a snapshot every `n` events: for aggregates whose streams grow without bound.
    Snapshot(usize),
}

/// An aggregate loaded for reading, with its version (the sequence of its last event).
#[derive(Debug)]
pub struct Loaded<A> {
    pub aggregate: A,
    pub version: usize,
}

/// What a command appended; `events` is empty when the command had no new effect.
#[derive(Debug)]
pub struct Committed<A: Aggregate> {
    pub aggregate_id: String,
    pub events: Vec<EventEnvelope<A>>,
    /// The aggregate's version after the command.
    pub version: usize,
    /// The aggregate's state after the command, as decided (no reload needed to answer).
    pub aggregate: A,
}

/// What a command is decided on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Basis {
    /// The aggregate as stored now.
    Current,
    /// The aggregate as stored now, which must be at this version (`If-Match`).
    Version(usize),
    /// Nothing: the caller minted the id just now, so the first attempt skips the load.
    New,
}

/// Loads aggregates of one type, decides commands on them and appends the result, with
/// optimistic concurrency: a commit whose sequence was taken meanwhile is decided again
/// on the fresh state, a bounded number of times.
pub struct AggregateStore<A: Aggregate> {
    store: PersistedEventStore<AnyEventRepository, A>,
    retry: RetryPolicy,
    /// Told after every append, to wake this process's projections at once.
    appended: Vec<Arc<Notify>>,
    /// Commands on a contended aggregate go one at a time (`turns`).
    turns: Turns,
    _aggregate: PhantomData<A>,
}

impl<A> AggregateStore<A>
where
    A: Aggregate<Services = ()> + Clone,
    A::Command: Clone,
{
    pub fn new(database: &Database, storage: Storage, retry: RetryPolicy) -> Self {
        let repository = AnyEventRepository::new(database);
        let store = match storage {
            Storage::Events => PersistedEventStore::new_event_store(repository),
            Storage::Snapshot(every) => PersistedEventStore::new_snapshot_store(repository, every),
        }
        .with_upcasters(aggregates::upcast::upcasters());
        Self {
            store,
            retry,
            appended: Vec::new(),
            turns: Turns::default(),
            _aggregate: PhantomData,
        }
    }

    /// Signals `appended` (too) after every commit that appended events.
    #[must_use]
    pub fn notifying(mut self, appended: Arc<Notify>) -> Self {
        self.appended.push(appended);
        self
    }

    /// The current state of one aggregate (the default state if it has no events).
    pub async fn load(&self, aggregate_id: &str) -> Result<Loaded<A>, CommandError<A::Error>> {
        let context = self
            .store
            .load_aggregate(aggregate_id)
            .await
            .map_err(CommandError::from_aggregate)?;
        Ok(Loaded {
            aggregate: context.aggregate,
            version: context.current_sequence,
        })
    }

    /// Decides `command` on the current state and appends its events with `metadata`.
    pub async fn execute(
        &self,
        aggregate_id: &str,
        command: A::Command,
        metadata: &EventMetadata,
    ) -> Result<Committed<A>, CommandError<A::Error>> {
        self.execute_with(self.retry, Basis::Current, aggregate_id, command, metadata)
            .await
    }

    /// `execute` for an aggregate whose id the caller has just minted (a fresh UUIDv7):
    /// there is nothing to load, so the first attempt decides on the default state
    /// without asking the database. Should the id exist after all, the append conflicts
    /// and the command is decided again on the loaded state, like any other.
    pub async fn execute_new(
        &self,
        aggregate_id: &str,
        command: A::Command,
        metadata: &EventMetadata,
    ) -> Result<Committed<A>, CommandError<A::Error>> {
        self.execute_with(self.retry, Basis::New, aggregate_id, command, metadata)
            .await
    }

    /// `execute` only while the aggregate is at `expected_version` (checked again on every
    /// retry, so a concurrent change in between is a mismatch, never overwritten).
    pub async fn execute_at_version(
        &self,
        aggregate_id: &str,
        expected_version: usize,
        command: A::Command,
        metadata: &EventMetadata,
    ) -> Result<Committed<A>, CommandError<A::Error>> {
        self.execute_with(
            self.retry,
            Basis::Version(expected_version),
            aggregate_id,
            command,
            metadata,
        )
        .await
    }

    /// `execute` without retries: for commands where a lost race can only mean a
    /// uniqueness violation (registering a fresh aggregate), which no retry can fix.
    pub async fn execute_once(
        &self,
        aggregate_id: &str,
        command: A::Command,
        metadata: &EventMetadata,
    ) -> Result<Committed<A>, CommandError<A::Error>> {
        let once = RetryPolicy {
            max_attempts: 1,
            ..self.retry
        };
        self.execute_with(once, Basis::Current, aggregate_id, command, metadata)
            .await
    }

    async fn execute_with(
        &self,
        retry: RetryPolicy,
        basis: Basis,
        aggregate_id: &str,
        command: A::Command,
        metadata: &EventMetadata,
    ) -> Result<Committed<A>, CommandError<A::Error>> {
        let span = tracing::info_span!("command", aggregate = A::TYPE, aggregate_id);
        let result = self
            .execute_with_retries(retry, basis, aggregate_id, command, metadata)
            .instrument(span)
            .await;
        let outcome = match &result {
            Ok(committed) if committed.events.is_empty() => "unchanged",
            Ok(_) => "ok",
            Err(CommandError::Rejected(_)) => "rejected",
            Err(CommandError::Conflict { .. }) => "conflict",
            Err(CommandError::VersionMismatch { .. }) => "version_mismatch",
            Err(CommandError::Store(_)) => "store_error",
        };
        metrics::counter!("scoremate_commands_total", "aggregate" => A::TYPE, "outcome" => outcome)
            .increment(1);
        if let Ok(committed) = &result {
            metrics::counter!("scoremate_events_appended_total", "aggregate" => A::TYPE)
                .increment(committed.events.len() as u64);
        }
        result
    }

    async fn execute_with_retries(
        &self,
        retry: RetryPolicy,
        basis: Basis,
        aggregate_id: &str,
        command: A::Command,
        metadata: &EventMetadata,
    ) -> Result<Committed<A>, CommandError<A::Error>> {
        let metadata = metadata.to_map();
        let mut turn = self.turns.join_queue(aggregate_id).await;
        for attempt in 1..=retry.max_attempts {
            let context = if basis == Basis::New && attempt == 1 {
                EventStoreAggregateContext {
                    aggregate_id: aggregate_id.to_owned(),
                    aggregate: A::default(),
                    current_sequence: 0,
                    current_snapshot: None,
                }
            } else {
                self.store
                    .load_aggregate(aggregate_id)
                    .await
                    .map_err(CommandError::from_aggregate)?
            };
            let version = context.current_sequence;
            // Decide on a copy: the store folds the new events into the loaded state itself
            // when it writes a snapshot, and must not see them twice.
            let mut decided = context.aggregate.clone();
            let sink = EventSink::default();
            // The rules answer first: a command refused anyway (someone else's aggregate is
            // "not found") gets that answer whatever version it was based on, so a stale
            // If-Match never reveals that an aggregate exists.
            decided
                .handle(command.clone(), &(), &sink)
                .await
                .map_err(CommandError::Rejected)?;
            if let Basis::Version(expected) = basis
                && expected != version
            {
                return Err(CommandError::VersionMismatch {
                    expected,
                    actual: version,
                });
            }
            // The sink has applied the events to `decided` as they were written.
            let events = sink.collect().await;
            if events.is_empty() {
                return Ok(Committed {
                    aggregate_id: aggregate_id.to_owned(),
                    events: Vec::new(),
                    version,
                    aggregate: decided,
                });
            }
            match self.store.commit(events, context, metadata.clone()).await {
                Ok(envelopes) => {
                    for appended in &self.appended {
                        appended.notify_one();
                    }
                    let version = envelopes
                        .last()
                        .map_or(version, |envelope| envelope.sequence);
                    return Ok(Committed {
                        aggregate_id: aggregate_id.to_owned(),
                        events: envelopes,
                        version,
                        aggregate: decided,
                    });
                }
                Err(AggregateError::AggregateConflict) => {
                    tracing::debug!(attempt, "append lost a race; deciding again");
                    metrics::counter!("scoremate_command_conflict_retries_total", "aggregate" => A::TYPE)
                        .increment(1);
                    if attempt < retry.max_attempts {
                        if turn.is_none() {
                            // Lost to this process's own commands, most likely: wait for
                            // the turn, then decide again at once.
                            turn = Some(self.turns.take(aggregate_id).await);
                        } else {
                            // Lost while holding the turn: to another process; back off.
                            tokio::time::sleep(retry.delay_before(attempt)).await;
                        }
                    }
                }
                Err(other) => return Err(CommandError::from_aggregate(other)),
            }
        }
        Err(CommandError::Conflict {
            attempts: retry.max_attempts,
        })
    }
}
