//! The `scoremate` service: HTTP API, settings, wiring.

pub mod cli;
pub mod routes;
pub mod settings;
pub mod startup;
pub mod telemetry;
