//! `Authorization: Bearer <access token>` → the calling user, checked against the session
//! so that a logout or a detected refresh-token theft takes effect at once, on every
//! instance sharing the database.

use aggregates::{SessionId, UserId};
use chrono::Utc;
use warp::Filter;
use warp::http::HeaderMap;
use warp::reject::Rejection;

use crate::context::RequestContext;
use crate::error::ApiError;
use crate::startup::AppState;

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: UserId,
    pub session_id: SessionId,
    pub roles: Vec<String>,
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

/// Requires a valid access token of a live session.
pub fn authenticated(
    state: AppState,
) -> impl Filter<Extract = (Principal,), Error = Rejection> + Clone {
    warp::header::headers_cloned().and_then(move |headers: HeaderMap| {
        let state = state.clone();
        async move {
            authenticate(&state, &headers)
                .await
                .map_err(warp::reject::custom)
        }
    })
}

async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let token = bearer_token(headers).ok_or_else(ApiError::invalid_token)?;
    let claims = state
        .services
        .tokens
        .verify_access(token)
        .map_err(|_| ApiError::invalid_token())?;
    let session = state
        .services
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
