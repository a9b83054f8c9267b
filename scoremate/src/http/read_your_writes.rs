//! Read-your-writes: a command's answer waits (boundedly) until the read models it
//! affects have caught up with the log, so the client's next GET sees its change.

use std::time::{Duration, Instant};

use cqrs_es::Aggregate;
use eventstore::{Committed, Database, EventLog};
use projections::{Projection, ProjectionRunner};
use warp::http::HeaderValue;

/// How long an answer may wait for the read models.
const WAIT: Duration = Duration::from_secs(2);
/// Set on an answer whose change the read models had not reached when it was sent.
pub const LAGGING_HEADER: &str = "x-read-models";

/// Answers once `view` has applied `change`; on a timeout the answer still succeeds and
/// says `x-read-models: lagging`.
pub async fn after_change<P: Projection, A: Aggregate>(
    database: &Database,
    view: &ProjectionRunner<P>,
    change: &Committed<A>,
    response: warp::reply::Response,
) -> warp::reply::Response {
    let caught_up = caught_up(database, view, change).await;
    mark_lagging(response, caught_up)
}

/// Waits until `view` has applied the last event of `change` (its own loop does the
/// work; concurrent requests share its steps), for at most the bounded wait; answers
/// whether it got there. Only the command's own event is waited for: later events of
/// other aggregates or clients (the quota step after a confirmation, say) are not this
/// answer's business, and waiting for the log head would make them so.
pub async fn caught_up<P: Projection, A: Aggregate>(
    database: &Database,
    view: &ProjectionRunner<P>,
    change: &Committed<A>,
) -> bool {
    if change.events.is_empty() {
        // Nothing appended (an idempotent repeat): nothing to wait for.
        return true;
    }
    let Ok(sequence) = i64::try_from(change.version) else {
        return false;
    };
    let target = EventLog::new(database.clone())
        .cursor_of(A::TYPE, &change.aggregate_id, sequence)
        .await;
    match target {
        Ok(Some(target)) => view
            .wait_for(target, Instant::now() + WAIT)
            .await
            .unwrap_or_else(|error| {
                tracing::warn!(%error, "catching a read model up failed");
                false
            }),
        Ok(None) => {
            tracing::warn!(aggregate_id = %change.aggregate_id, "a committed event is not in the log");
            false
        }
        Err(error) => {
            tracing::warn!(%error, "reading the log failed");
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
