//! The `scoremate` service: the HTTP API, the command line, and the wiring between them
//! and the crates below (aggregates → eventstore → projections → processors).
//!
//! A tour, from the outside in:
//! - `cli`: the `scoremate` command line (`serve`, `worker`, `migrate`, `admin`, `audit`,
//!   `projections`, `processors`, `pdf`), dispatched in `cli::run`;
//! - `app`: settings in, a running server or worker out — the services, the background
//!   followers and timers, the listeners;
//! - `routes`: one module per resource of `/api/v1`, and the router over them;
//! - `web`: the musicians' web page at `/` (files of `scoremate/web/`), a client of the
//!   public API under a strict Content-Security-Policy;
//! - `state`: what every handler shares (`AppState`, `Services`);
//! - `quota`, `users`: what several routes share (a user's quota; email → account);
//! - `http`: the plumbing under every route — errors, extraction, pagination, ETags,
//!   idempotency, throttling, read-your-writes, the server and its connection limits.
//!   It never imports `routes`, `state` or `app`;
//! - `auth`: password hashing and signed tokens; `sync_token`: the change feed's sealed
//!   resume tokens;
//! - `settings`, `telemetry`, `sql` (keyset pagination in SQL), `upload_locks`,
//!   `pdf_sandbox`.
//!
//! Dependencies point one way: `cli` → `app` → `routes` → {`quota`, `users`, `state`} →
//! `http` → `auth`. `.ci/run` fails on an import cycle between modules.

pub mod app;
mod auth;
pub mod cli;
pub mod http;
pub mod pdf_sandbox;
mod preview_renders;
mod quota;
pub mod routes;
mod settings;
mod songbook_index;
mod sql;
mod state;
mod sync_token;
pub mod telemetry;
mod upload_locks;
mod users;
pub mod web;
