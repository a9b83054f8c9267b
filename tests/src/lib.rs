//! Test support shared by the integration tests: databases of both backends, a running
//! application, small fixtures.

pub mod app;
pub mod database;
pub mod log;
pub mod tally;

pub use app::{TestApp, spawn_app, spawn_app_with};
pub use database::TestDatabase;
pub use log::read_whole_log;
