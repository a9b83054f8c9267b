//! Reactions to events: the quota saga, object cleanup, reservation expiry, setlist
//! cleanup, PDF info and thumbnails. Each gets what it needs injected; none builds the wiring.

pub mod cleanup;
pub mod commands;
pub mod expiry;
pub mod objects;
pub mod pdf;
pub mod quota;
pub mod runner;
pub mod setlists;

pub use cleanup::ObjectCleanup;
pub use expiry::ReservationExpiry;
pub use pdf::PdfProcessing;
pub use quota::QuotaSaga;
pub use runner::{Processor, ProcessorError, ProcessorRunner};
pub use setlists::SetlistCleanup;
