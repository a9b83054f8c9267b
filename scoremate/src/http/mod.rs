//! HTTP plumbing shared by every route. Nothing here knows a route or the application's
//! wiring: each filter takes what it needs (a database, an authenticator, a limiter).
//!
//! - `server`, `connections`: the listener, connection limits and timeouts (also of the
//!   embedded S3 endpoint: `embedded_s3`);
//! - `context`: the request id, client address and user of the request in flight;
//! - `client_address`: who the client is behind trusted proxies;
//! - `endpoint`: declaring a route (method and template), 405 with `Allow`;
//! - `error`: `ApiError`, the problem+json body, and the one mapping of errors to codes;
//! - `extract`: bodies and queries read strictly, with field-by-field errors;
//! - `authenticate`: bearer token → `Principal`;
//! - `openapi`: the error answers and headers every route documents the same way;
//! - `pagination`, `etag`, `idempotency`, `throttle`, `read_your_writes`, `reply`,
//!   `metrics`: what their names say.

pub(crate) mod authenticate;
pub(crate) mod client_address;
pub(crate) mod connections;
pub(crate) mod context;
mod embedded_s3;
pub mod endpoint;
pub(crate) mod error;
pub(crate) mod etag;
pub(crate) mod extract;
pub(crate) mod idempotency;
pub mod metrics;
pub(crate) mod openapi;
pub mod pagination;
pub mod read_your_writes;
pub(crate) mod reply;
pub mod server;
pub mod throttle;
