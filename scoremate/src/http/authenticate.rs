//! `Authorization: Bearer <access token>` → the calling user, checked against the session
//! so that a logout or a detected refresh-token theft takes effect at once, on every
//! instance sharing the database.

use std::sync::Arc;

use aggregates::{Session, SessionId, UserId};
use chrono::Utc;
use eventstore::{Actor, AggregateStore};
use warp::Filter;
use warp::http::HeaderMap;
use warp::reject::Rejection;

use crate::auth::Tokens;
use crate::http::context::{RequestContext, command_metadata};
use crate::http::error::ApiError;

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: UserId,
    pub session_id: SessionId,
    pub roles: Vec<String>,
}

impl Principal {
    /// Metadata for a command the caller issues.
    pub fn command_metadata(&self) -> eventstore::EventMetadata {
        command_metadata(Actor::User(self.user_id.into_uuid()))
    }
}

/// The bearer token of a request, if it has one.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers
        .get(warp::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// What checking a bearer token needs: the signing keys and the sessions.
#[derive(Clone)]
pub struct Authenticator {
    tokens: Arc<Tokens>,
    sessions: Arc<AggregateStore<Session>>,
}

impl Authenticator {
    pub fn new(tokens: Arc<Tokens>, sessions: Arc<AggregateStore<Session>>) -> Self {
        Self { tokens, sessions }
    }
}

/// Requires a valid access token of a live session.
pub fn authenticated(
    authenticator: Authenticator,
) -> impl Filter<Extract = (Principal,), Error = Rejection> + Clone {
    warp::header::headers_cloned().and_then(move |headers: HeaderMap| {
        let authenticator = authenticator.clone();
        async move {
            authenticate(&authenticator, &headers)
                .await
                .map_err(warp::reject::custom)
        }
    })
}

async fn authenticate(
    authenticator: &Authenticator,
    headers: &HeaderMap,
) -> Result<Principal, ApiError> {
    let token = bearer_token(headers).ok_or_else(ApiError::invalid_token)?;
    let claims = authenticator
        .tokens
        .verify_access(token)
        .map_err(|_| ApiError::invalid_token())?;
    let session = authenticator
        .sessions
        .load(&claims.sid.to_string())
        .await
        .map_err(|error| ApiError::internal(&error))?
        .aggregate;
    let user_id = UserId::from_uuid(claims.sub);
    if session.user_id() != Some(user_id) || !session.is_active(Utc::now()) {
        return Err(ApiError::invalid_token());
    }
    RequestContext::record_user(claims.sub);
    Ok(Principal {
        user_id,
        session_id: SessionId::from_uuid(claims.sid),
        roles: claims.roles,
    })
}
