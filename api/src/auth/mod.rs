//! Authentication: password hashing, signed tokens, and the filter that turns a bearer
//! token into the calling user.

pub mod passwords;
pub mod principal;
pub mod tokens;

pub use passwords::Passwords;
pub use principal::{Principal, authenticated};
pub use tokens::{AccessClaims, RefreshClaims, TokenError, Tokens};
