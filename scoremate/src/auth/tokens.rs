//! Access and refresh tokens: HS256 JWTs, the algorithm pinned.
//!
//! An access token names the user (`sub`), the session (`sid`) and the roles held at
//! login or the last refresh; it is short-lived and checked against the session on every
//! request, so a logout takes effect at once. A refresh token names the session and the
//! refresh-token id (`jti`) the session expects next; each refresh rotates it.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::settings::Secret;

const ACCESS: &str = "access";
const REFRESH: &str = "refresh";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: Uuid,
    pub sid: Uuid,
    pub roles: Vec<String>,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
    /// `access`: a refresh token is never accepted as an access token, nor the reverse.
    pub typ: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshClaims {
    pub sub: Uuid,
    pub sid: Uuid,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
    pub typ: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed, forged or expired")]
    Invalid,
    #[error("signing a token failed")]
    Signing(#[source] jsonwebtoken::errors::Error),
}

/// Signs and verifies tokens with one secret.
#[derive(Clone)]
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub access_ttl: chrono::Duration,
    pub refresh_ttl: chrono::Duration,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("access_ttl", &self.access_ttl)
            .field("refresh_ttl", &self.refresh_ttl)
            .finish_non_exhaustive()
    }
}

fn seconds(secs: u64) -> chrono::Duration {
    chrono::Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 1000))
}

impl Tokens {
    pub fn new(secret: &Secret, access_ttl_secs: u64, refresh_ttl_secs: u64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is exact: instances sharing a database share a clock closely enough.
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "iat", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret.expose().as_bytes()),
            decoding: DecodingKey::from_secret(secret.expose().as_bytes()),
            validation,
            access_ttl: seconds(access_ttl_secs),
            refresh_ttl: seconds(refresh_ttl_secs),
        }
    }

    pub fn issue_access(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        roles: Vec<String>,
        now: DateTime<Utc>,
    ) -> Result<String, TokenError> {
        let claims = AccessClaims {
            sub: user_id,
            sid: session_id,
            roles,
            iat: now.timestamp(),
            exp: (now + self.access_ttl).timestamp(),
            jti: Uuid::new_v4(),
            typ: ACCESS.to_owned(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(TokenError::Signing)
    }

    pub fn issue_refresh(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        token_id: Uuid,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<String, TokenError> {
        let claims = RefreshClaims {
            sub: user_id,
            sid: session_id,
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
            jti: token_id,
            typ: REFRESH.to_owned(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(TokenError::Signing)
    }

    /// An access token and the refresh token `refresh_token_id` of one session.
    pub fn issue_pair(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        roles: Vec<String>,
        refresh_token_id: Uuid,
        now: DateTime<Utc>,
        refresh_expires_at: DateTime<Utc>,
    ) -> Result<(String, String), TokenError> {
        let access = self.issue_access(user_id, session_id, roles, now)?;
        let refresh = self.issue_refresh(
            user_id,
            session_id,
            refresh_token_id,
            now,
            refresh_expires_at,
        )?;
        Ok((access, refresh))
    }

    pub fn verify_access(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let claims = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map_err(|_| TokenError::Invalid)?
            .claims;
        if claims.typ == ACCESS {
            Ok(claims)
        } else {
            Err(TokenError::Invalid)
        }
    }

    pub fn verify_refresh(&self, token: &str) -> Result<RefreshClaims, TokenError> {
        let claims = jsonwebtoken::decode::<RefreshClaims>(token, &self.decoding, &self.validation)
            .map_err(|_| TokenError::Invalid)?
            .claims;
        if claims.typ == REFRESH {
            Ok(claims)
        } else {
            Err(TokenError::Invalid)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        Tokens::new(&Secret::new("test-secret-test-secret-test-secret"), 60, 600)
    }

    #[test]
    fn an_access_token_round_trips_and_is_not_a_refresh_token() -> Result<(), TokenError> {
        let tokens = tokens();
        let (user, session) = (Uuid::new_v4(), Uuid::new_v4());
        let token = tokens.issue_access(user, session, vec!["auditor".into()], Utc::now())?;
        let claims = tokens.verify_access(&token)?;
        assert_eq!(
            (claims.sub, claims.sid, claims.roles),
            (user, session, vec!["auditor".to_owned()])
        );
        assert!(tokens.verify_refresh(&token).is_err());
        Ok(())
    }

    #[test]
    fn tokens_of_another_secret_or_algorithm_are_refused() -> Result<(), TokenError> {
        let other = Tokens::new(&Secret::new("another-secret-another-secret"), 60, 600);
        let token = other.issue_access(Uuid::new_v4(), Uuid::new_v4(), vec![], Utc::now())?;
        assert!(tokens().verify_access(&token).is_err());
        // alg: none, with a valid-looking payload.
        let unsigned = format!(
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.",
            token.split('.').nth(1).unwrap_or_default()
        );
        assert!(other.verify_access(&unsigned).is_err());
        Ok(())
    }

    #[test]
    fn an_expired_token_is_refused() -> Result<(), TokenError> {
        let tokens = tokens();
        let issued = Utc::now() - chrono::Duration::seconds(120);
        let token = tokens.issue_access(Uuid::new_v4(), Uuid::new_v4(), vec![], issued)?;
        assert!(tokens.verify_access(&token).is_err());
        Ok(())
    }
}
