//! Read models folded from the global log. Each projection has a name (its checkpoint key
//! and tracing span); a runner step reads the next events after the checkpoint, applies
//! them and moves the checkpoint, all in one transaction, so `kill -9` never loses or
//! doubles an event.
//!
//! - `runner`: the `Projection` trait (a batch of events in, rows out) and its runner;
//! - `accounts`, `analytics`, `quota`, `reservations`, `scores`, `setlists`: the read
//!   models, each folding a batch in memory and writing it back in a few statements;
//! - `batch`, `transaction`, `decode`: set-based reads and writes of a batch, the
//!   read-model transaction, event decoding;
//! - `checkpoint`, `progress`, `catalog`: a follower's checkpoint, what this process knows
//!   of it without asking, every projection by name for operators;
//! - `changes`: whose library a committed batch changed, told to the change feed's
//!   long-polls in every process;
//! - `rebuild`, `dump`, `statistics`: rebuilding into shadow tables and swapping them in,
//!   tables as sorted rows for comparison, keeping the planner's statistics fresh.

mod accounts;
mod analytics;
mod batch;
mod catalog;
mod changes;
mod checkpoint;
pub mod decode;
mod dump;
mod error;
mod progress;
mod quota;
mod rebuild;
mod reservations;
mod runner;
mod scores;
mod setlists;
mod statistics;
mod transaction;

pub use accounts::{Accounts, Sessions};
pub use analytics::Analytics;
pub use catalog::{
    PROJECTION_NAMES, ProjectionStatus, checkpoint_of, oldest_after, oldest_unapplied,
    projection_name, read_model_tables, rebuild_all, rebuild_named, status,
};
pub use changes::{CHANGES_CHANNEL, OwnerChanges, Owners, Subscription, parse_owners};
pub use checkpoint::{
    Checkpoint, parse_progress, peek_checkpoint, read_checkpoint, write_checkpoint,
};
pub use dump::dump_read_models;
pub use error::ProjectionError;
pub use progress::Progress;
pub use quota::{QuotaBalances, QuotaLedger};
pub use rebuild::{RebuildProgress, RebuildReport, rebuild};
pub use reservations::{ExpiredReservation, OpenReservations, expired_reservations};
pub use runner::{Follower, OneByOne, Projection, ProjectionRunner, Step, step_in};
pub use scores::{Scores, fold};
pub use setlists::Setlists;
pub use transaction::ReadModelTx;
