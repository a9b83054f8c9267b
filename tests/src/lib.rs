//! Test support shared by the integration tests (and the benchmarks): databases of both
//! backends, a running application, small fixtures, long generated histories.

pub mod app;
pub mod database;
pub mod event_rows;
pub mod history;
pub mod jwt;
pub mod log;
mod mix;
pub mod mixed_history;
pub mod moto;
pub mod problem;
pub mod quota_model;
pub mod read_models;
pub mod tally;
pub mod upload_client;

pub use app::{
    PASSWORD, SignedIn, TestApp, Tokens, expect_json, spawn_app, spawn_app_with, unique_email,
};
pub use database::TestDatabase;
pub use log::read_whole_log;
pub use mix::Mix;
pub use mixed_history::write_mixed_history;
pub use moto::MotoServer;
pub use problem::{Problem, expect_problem};

/// A two-worker tokio runtime for tests that drive async code from a synchronous
/// property runner (proptest's `TestRunner`).
pub fn test_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|error| panic!("a tokio runtime: {error}"))
}
