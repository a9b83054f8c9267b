//! The `scoremate` service: HTTP API, settings, wiring.

pub mod admin;
pub mod auth;
pub mod cli;
pub mod consistency;
pub mod context;
pub mod directory;
pub mod embedded_s3;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod metrics;
pub mod openapi;
pub mod pagination;
pub mod pdf_cli;
pub mod processors_cli;
pub mod projections_cli;
pub mod routes;
pub mod routing;
pub mod server;
pub mod settings;
pub mod sql;
pub mod startup;
pub mod telemetry;
pub mod throttle;
pub mod versioning;
