//! Wiring: settings in, a running server (or worker) out. Tests build the same
//! `Application`.
//!
//! - `services`: the command side and the security machinery, built from the settings;
//! - `connect`: the database and the object store (the embedded S3 endpoint when no
//!   external one is configured);
//! - `background`: projections, processors, timers and the PDF claim loop of a process;
//! - `application`: `serve` — the API and `/metrics` listeners over the routes;
//! - `worker`: `worker` — the background work alone;
//! - `signal`: SIGINT/SIGTERM.

mod application;
mod background;
mod connect;
mod error;
mod services;
mod signal;
mod worker;

pub use application::Application;
pub use background::Background;
pub use connect::{connect_database, connect_object_store};
pub use error::StartupError;
pub use signal::shutdown_signal;
pub use worker::run_worker;
