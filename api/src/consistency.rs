//! Read-your-writes: a command's answer waits (boundedly) until the read models it
//! affects have caught up with the log, so the client's next GET sees its change.

use std::time::{Duration, Instant};

use eventstore::EventLog;
use warp::http::HeaderValue;

use crate::startup::AppState;

/// How long an answer may wait for the read models.
const WAIT: Duration = Duration::from_secs(2);
/// Set on an answer whose change the read models had not reached when it was sent.
pub const LAGGING_HEADER: &str = "x-read-models";

/// Brings the score read model up to everything committed so far, then answers; on a
/// timeout the answer still succeeds and says `x-read-models: lagging`.
pub async fn after_score_change(
    state: &AppState,
    mut response: warp::reply::Response,
) -> warp::reply::Response {
    let caught_up = match EventLog::new(state.database.clone()).head().await {
        Ok(head) => state
            .services
            .scores_view
            .catch_up(head, Instant::now() + WAIT)
            .await
            .unwrap_or_else(|error| {
                tracing::warn!(%error, "catching the score read model up failed");
                false
            }),
        Err(error) => {
            tracing::warn!(%error, "reading the log head failed");
            false
        }
    };
    if !caught_up {
        response
            .headers_mut()
            .insert(LAGGING_HEADER, HeaderValue::from_static("lagging"));
    }
    response
}
