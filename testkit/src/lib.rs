//! Test support shared across the workspace, for test targets and benchmarks only.
//!
//! Two halves, each behind a feature so that a crate pulls in only what it uses:
//!
//! - `pdf` — [`pdf`]: real PDFs built at test time with lopdf (page boxes, rotation,
//!   metadata, scanned pages, hostile files: bombs, deep trees, noise), the committed
//!   fixtures of `score-pdf/tests/fixtures/`, and poppler as the reference viewer to compare
//!   thumbnails with. Depends on external crates only; used by score-pdf's and the API's
//!   tests and by the PDF and load benchmarks.
//! - `store` — everything below the HTTP API: [`TestDatabase`] (a fresh, migrated
//!   SQLite or PostgreSQL database per test), [`read_whole_log`] (the global log read to
//!   its head), [`tally`] (a minimal aggregate without business rules), [`read_models`]
//!   (every read-model table dumped and compared), and generated histories written fast
//!   as event rows: [`event_rows`], [`history`] (long quota histories),
//!   [`mixed_history`] (users' whole lives, interleaved) and the PRNG behind them, [`Mix`].
//!   Depends on eventstore and projections, whose own integration tests use it: cargo
//!   allows that cycle through dev-dependencies, as both sides then share one build of
//!   each crate.
//!
//! What needs a running application (`spawn_app`, HTTP clients, problem bodies) stays in
//! the `integration-tests` crate.

#[cfg(feature = "pdf")]
pub mod pdf;

#[cfg(feature = "store")]
mod database;
#[cfg(feature = "store")]
pub mod event_rows;
#[cfg(feature = "store")]
pub mod history;
#[cfg(feature = "store")]
mod log;
#[cfg(feature = "store")]
mod mix;
#[cfg(feature = "store")]
pub mod mixed_history;
#[cfg(feature = "store")]
pub mod read_models;
#[cfg(feature = "store")]
pub mod tally;

#[cfg(feature = "store")]
pub use database::TestDatabase;
#[cfg(feature = "store")]
pub use log::read_whole_log;
#[cfg(feature = "store")]
pub use mix::Mix;
#[cfg(feature = "store")]
pub use mixed_history::write_mixed_history;
