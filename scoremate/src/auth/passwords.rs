//! Argon2id password hashes (PHC strings with their parameters and salt).
//!
//! Parameters: Argon2id v1.3, m = 19 MiB, t = 2, p = 1 — the OWASP recommendation and the
//! `argon2` crate's default; a hash takes tens of milliseconds optimised. Hashing runs on
//! the blocking pool so it never stalls the async workers.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::settings::Secret;

/// Shortest password accepted, in characters.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest password accepted, in characters (hashing cost is linear in length).
pub const MAX_PASSWORD_CHARS: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password hashing failed: {0}")]
    Hashing(String),
    #[error("the hashing task was cancelled")]
    Cancelled,
}

/// Hashes and verifies passwords.
#[derive(Debug, Clone)]
pub struct Passwords {
    /// A hash of nothing in particular, verified against when the user is unknown so that
    /// an unknown email costs the same time as a wrong password.
    dummy_hash: String,
}

fn hasher() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

impl Passwords {
    pub async fn new() -> Result<Self, PasswordError> {
        let dummy_hash = Self::hash_blocking(Secret::new("scoremate-dummy-password")).await?;
        Ok(Self { dummy_hash })
    }

    pub async fn hash(&self, password: Secret) -> Result<String, PasswordError> {
        Self::hash_blocking(password).await
    }

    async fn hash_blocking(password: Secret) -> Result<String, PasswordError> {
        tokio::task::spawn_blocking(move || {
            hasher()
                .hash_password(password.expose().as_bytes())
                .map(|hash| hash.to_string())
                .map_err(|error| PasswordError::Hashing(error.to_string()))
        })
        .await
        .map_err(|_| PasswordError::Cancelled)?
    }

    /// True when `password` matches `hash`; a malformed stored hash never matches.
    pub async fn verify(&self, password: Secret, hash: String) -> bool {
        tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash).is_ok_and(|parsed| {
                hasher()
                    .verify_password(password.expose().as_bytes(), &parsed)
                    .is_ok()
            })
        })
        .await
        .unwrap_or(false)
    }

    /// Spends the time of a verification, for a user that does not exist.
    pub async fn verify_nobody(&self, password: Secret) {
        let _ = self.verify(password, self.dummy_hash.clone()).await;
    }
}
