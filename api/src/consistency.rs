//! Read-your-writes: a command's answer waits (boundedly) until the read models it
//! affects have caught up with the log, so the client's next GET sees its change.

use std::time::{Duration, Instant};

use eventstore::EventLog;
use projections::{Projection, ProjectionRunner};
use warp::http::HeaderValue;

use crate::startup::AppState;

/// How long an answer may wait for the read models.
const WAIT: Duration = Duration::from_secs(2);
/// Set on an answer whose change the read models had not reached when it was sent.
pub const LAGGING_HEADER: &str = "x-read-models";

/// Answers once the score read model has everything committed so far; on a timeout the
/// answer still succeeds and says `x-read-models: lagging`.
pub async fn after_score_change(
    state: &AppState,
    response: warp::reply::Response,
) -> warp::reply::Response {
    after_change(state, &state.services.scores_view, response).await
}

/// The same for the setlist read model.
pub async fn after_setlist_change(
    state: &AppState,
    response: warp::reply::Response,
) -> warp::reply::Response {
    after_change(state, &state.services.setlists_view, response).await
}

async fn after_change<P: Projection>(
    state: &AppState,
    view: &ProjectionRunner<P>,
    response: warp::reply::Response,
) -> warp::reply::Response {
    let caught_up = caught_up(state, view).await;
    mark_lagging(response, caught_up)
}

/// Waits until `view` has applied everything committed so far (its own loop does the
/// work; concurrent requests share its steps), for at most the bounded wait; answers
/// whether it got there.
pub async fn caught_up<P: Projection>(state: &AppState, view: &ProjectionRunner<P>) -> bool {
    match EventLog::new(state.database.clone()).head().await {
        Ok(head) => view
            .wait_for(head, Instant::now() + WAIT)
            .await
            .unwrap_or_else(|error| {
                tracing::warn!(%error, "catching a read model up failed");
                false
            }),
        Err(error) => {
            tracing::warn!(%error, "reading the log head failed");
            false
        }
    }
}

/// Says `x-read-models: lagging` on an answer the read models had not caught up with.
pub fn mark_lagging(mut response: warp::reply::Response, caught_up: bool) -> warp::reply::Response {
    if !caught_up {
        response
            .headers_mut()
            .insert(LAGGING_HEADER, HeaderValue::from_static("lagging"));
    }
    response
}
