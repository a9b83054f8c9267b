//! HTTP routes, one module per resource.

pub mod audit;
pub mod auth;
pub mod health;
pub mod library;
pub mod me;
pub mod scores;
pub mod setlists;
pub mod uploads;
