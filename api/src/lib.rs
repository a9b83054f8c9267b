//! The `scoremate` service: HTTP API, settings, wiring.

/// Every program built on the service (the binary, the benches, the tests) allocates
/// through mimalloc: decoding events and read-model rows makes and frees millions of small
/// JSON values, where glibc's allocator spent a third of a rebuild (perf: `_int_malloc`,
/// `malloc_consolidate`, `unlink_chunk`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod admin;
pub mod audit;
pub mod audit_cli;
pub mod auth;
pub mod cli;
pub mod connections;
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
pub mod upload_locks;
pub mod versioning;
