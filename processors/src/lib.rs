//! Reactions to events: the quota saga, object cleanup, reservation expiry (and, later,
//! PDF info and thumbnails). Each gets what it needs injected; none builds the wiring.

pub mod cleanup;
pub mod commands;
pub mod expiry;
pub mod objects;
pub mod quota;
pub mod runner;
pub mod setlists;

pub use cleanup::ObjectCleanup;
pub use expiry::ReservationExpiry;
pub use quota::QuotaSaga;
pub use runner::{Processor, ProcessorError, ProcessorRunner};
pub use setlists::SetlistCleanup;
