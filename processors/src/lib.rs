//! Reactions to events: the quota saga, object cleanup, reservation expiry, setlist
//! cleanup, file hashes, and the PDF info and thumbnail jobs; and the upload sweep, a
//! timer over the object store's staging area (the store itself is the `objectstore`
//! crate). Each gets what it needs injected; none builds the wiring.
//!
//! - `runner`: the `Processor` trait and its checkpointed runner;
//! - `hashes`: the SHA-256 of scores confirmed before confirmations hashed their bytes;
//! - `quota`, `cleanup`, `setlists`: the quota saga, object cleanup after deletion, setlist
//!   items of deleted scores;
//! - `expiry`, `sweep`: the timers — reservations that ran out, staged bytes left behind;
//! - `jobs`, `pdf`: the PDF job queue (leases, one claim per job) and its two stages;
//! - `commands`: what a processor's command came to, as the processor's outcome.

pub mod cleanup;
pub mod commands;
pub mod expiry;
pub mod hashes;
pub mod jobs;
pub mod pdf;
pub mod quota;
pub mod runner;
pub mod setlists;
pub mod sweep;

pub use cleanup::ObjectCleanup;
pub use expiry::ReservationExpiry;
pub use hashes::FileHashes;
pub use jobs::{JobFeed, JobQueue, PdfJobs};
pub use pdf::{PdfProcessing, StageOutcome};
pub use quota::QuotaSaga;
pub use runner::{Processor, ProcessorError, ProcessorRunner};
pub use setlists::SetlistCleanup;
pub use sweep::{SweepError, UploadSweep};
