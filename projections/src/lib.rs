//! Read models folded from the global log. Each projection has a name (its checkpoint key
//! and tracing span); a runner step reads the next events after the checkpoint, applies
//! them and moves the checkpoint, all in one transaction, so `kill -9` never loses or
//! doubles an event.

mod checkpoint;
mod error;
mod reservations;
mod runner;
mod scores;
mod transaction;

pub use checkpoint::{Checkpoint, read_checkpoint, write_checkpoint};
pub use error::ProjectionError;
pub use reservations::{ExpiredReservation, OpenReservations, expired_reservations};
pub use runner::{Follower, Projection, ProjectionRunner, Step};
pub use scores::{Scores, fold};
pub use transaction::ReadModelTx;
