//! Authentication's secrets: password hashing and signed tokens (no HTTP here: the filter
//! that turns a bearer token into the calling user is `http::authenticate`).

pub mod passwords;
pub mod tokens;

pub use passwords::Passwords;
pub use tokens::Tokens;
