//! `GET /api/v1/sync`: the caller's changes since a token, oldest first, for clients that
//! keep a copy of their library (docs/sync.md). Without a token, the whole library; with
//! `wait`, a long-poll that answers as soon as the caller's read models change (woken by
//! the projections' announcements, from any instance on PostgreSQL) or empty at the end.

pub mod feed;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use warp::http::Method;
use warp::{Filter, Rejection, Reply};

use crate::http::authenticate::{Principal, authenticated};
use crate::http::endpoint::endpoint;
use crate::http::error::{ApiError, FieldMessages, Problem};
use crate::http::openapi::Authenticated;
use crate::http::reply::into_reply;
use crate::state::AppState;
use feed::{Change, Start, read_page};

/// Changes per page unless `limit` says otherwise.
const DEFAULT_LIMIT: usize = 100;
/// At most this many changes per page.
pub const MAX_LIMIT: usize = 1000;
/// The longest long-poll, in seconds: below the idle timeouts of the usual proxies.
pub const MAX_WAIT_SECS: u64 = 30;

#[derive(Debug, Clone, Deserialize, IntoParams)]
pub struct SyncQuery {
    /// The `next` of the previous answer; absent: the whole library.
    pub since: Option<String>,
    /// Changes per page, 1 to 1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// Seconds to wait for a change when there is none yet, 0 to 30 (default 0).
    #[param(value_type = Option<u32>, minimum = 0, maximum = 30)]
    pub wait: Option<String>,
}

/// A page of the caller's changes.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncPage {
    /// Oldest first; at most one per item.
    pub changes: Vec<Change>,
    /// Where the next page starts: pass it as `since`. Keep it with the local copy.
    pub next: String,
    /// More changes are readable now: ask again at once with `next`.
    pub has_more: bool,
}

/// A checked request.
struct SyncRequest {
    start: Start,
    limit: usize,
    wait: Duration,
}

impl SyncRequest {
    /// E007 naming every bad parameter; a token that is not the caller's is refused like
    /// a malformed one, and says nothing of whose it is.
    fn read(query: &SyncQuery, state: &AppState, owner: &str) -> Result<Self, ApiError> {
        let mut errors = FieldMessages::new();
        let mut error = |field: &str, message: &str| {
            errors
                .entry(field.to_owned())
                .or_default()
                .push(message.to_owned());
        };
        let limit = match query.limit.as_deref().map(str::parse::<usize>) {
            None => DEFAULT_LIMIT,
            Some(Ok(limit)) if (1..=MAX_LIMIT).contains(&limit) => limit,
            Some(_) => {
                error("limit", "Must be a whole number from 1 to 1000.");
                DEFAULT_LIMIT
            }
        };
        let wait = match query.wait.as_deref().map(str::parse::<u64>) {
            None => 0,
            Some(Ok(wait)) if wait <= MAX_WAIT_SECS => wait,
            Some(_) => {
                error("wait", "Must be a whole number of seconds from 0 to 30.");
                0
            }
        };
        let start = match query.since.as_deref() {
            None => Start::Snapshot,
            Some(text) => match state.services.sync_tokens.open(owner, text) {
                Some(token) => Start::After(token),
                None => {
                    error(
                        "since",
                        "Not a sync token of yours; start again without one.",
                    );
                    Start::Snapshot
                }
            },
        };
        if !errors.is_empty() {
            return Err(ApiError::validation(errors));
        }
        Ok(Self {
            start,
            limit,
            wait: Duration::from_secs(wait),
        })
    }
}

pub fn routes(
    state: &AppState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone + use<> {
    endpoint(Method::GET, "/api/v1/sync")
        .and(state.each_request())
        .and(authenticated(state.authenticator()))
        .and(warp::query::<SyncQuery>())
        .then(|_, state, principal, query| sync(state, principal, query))
        .map(into_reply)
}

#[utoipa::path(
    get, path = "/api/v1/sync", tag = "sync",
    security(("bearer" = [])),
    params(SyncQuery),
    responses(
        (status = 200, description = "The caller's changes after `since` (or the whole library), oldest first", body = SyncPage),
        (status = 400, description = "Bad `limit` or `wait`, or a `since` that is not one of the caller's tokens (E007)", body = Problem, content_type = "application/problem+json"),
        Authenticated,
    )
)]
pub async fn sync(
    state: AppState,
    principal: Principal,
    query: SyncQuery,
) -> Result<warp::reply::Response, ApiError> {
    let owner = principal.user_id.to_string();
    let request = SyncRequest::read(&query, &state, &owner)?;
    let page = if request.wait.is_zero() {
        read_page(&state.database, &owner, request.start, request.limit).await?
    } else {
        long_poll(&state, &owner, request).await?
    };
    let body = SyncPage {
        changes: page.changes,
        next: state.services.sync_tokens.seal(&owner, &page.next),
        has_more: page.has_more,
    };
    Ok(warp::reply::json(&body).into_response())
}

/// Counts a long-poll in `scoremate_sync_long_polls` while it lasts (a client that hangs
/// up drops the request, and with it this).
struct Parked;

impl Parked {
    fn new() -> Self {
        metrics::gauge!("scoremate_sync_long_polls").increment(1.0);
        Self
    }
}

impl Drop for Parked {
    fn drop(&mut self) {
        metrics::gauge!("scoremate_sync_long_polls").decrement(1.0);
    }
}

/// The first page that has changes, or the empty one at the end of the wait. Between
/// looks the request holds no database connection, only its place in the owner's list
/// of waiters.
async fn long_poll(
    state: &AppState,
    owner: &str,
    request: SyncRequest,
) -> Result<feed::FeedPage, ApiError> {
    let deadline = tokio::time::Instant::now() + request.wait;
    let subscription = state.services.changes.subscribe(owner);
    let _parked = Parked::new();
    let mut start = request.start;
    loop {
        // Listening before looking: a change committed during the look still wakes it.
        let woken = subscription.notify().notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let page = read_page(&state.database, owner, start, request.limit).await?;
        if !page.changes.is_empty() || tokio::time::Instant::now() >= deadline {
            return Ok(page);
        }
        // Nothing for the caller up to the checkpoints: the next look starts there.
        start = Start::After(page.next);
        tokio::select! {
            () = woken => {}
            () = tokio::time::sleep_until(deadline) => {}
        }
    }
}
