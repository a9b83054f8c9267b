//! Test support for the tests that drive the whole application: a running server
//! (`spawn_app`), HTTP clients, problem bodies, tokens, a moto S3 and a quota model. What
//! needs no application (test databases, generated histories, PDF fixtures) is in
//! `testkit`.

pub mod app;
pub mod jwt;
pub mod moto;
pub mod problem;
pub mod quota_model;
pub mod upload_client;

pub use app::{
    PASSWORD, SignedIn, TestApp, Tokens, expect_json, spawn_app, spawn_app_with, unique_email,
};
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
