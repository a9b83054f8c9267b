//! Liveness and readiness probes for load balancers and orchestrators.

use serde::Serialize;
use warp::Filter;
use warp::http::StatusCode;

use crate::state::AppState;

#[derive(Debug, Serialize)]
struct Health {
    status: &'static str,
}

#[derive(Debug, Serialize)]
struct Readiness {
    status: &'static str,
    database: &'static str,
    object_store: &'static str,
    /// `ok`, `lagging` (beyond `SCOREMATE_READY_MAX_LAG_SECS`) or `unknown` (the database
    /// did not answer).
    read_models: &'static str,
    /// Seconds since the oldest event the read models have not applied was recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    read_models_lag_seconds: Option<f64>,
}

/// The read models requests answer from: while one of them lags, an answer may miss a
/// change another instance acknowledged long ago.
const SERVING_VIEWS: [&str; 3] = ["accounts", "scores", "setlists"];

/// `GET /healthz`: the process is up and serving HTTP.
pub fn healthz() -> impl Filter<Extract = (impl warp::Reply,), Error = warp::Rejection> + Clone {
    warp::path!("healthz")
        .and(warp::get())
        .map(|| warp::reply::json(&Health { status: "ok" }))
}

/// `GET /readyz`: the database and the object store answer, and the read models are at
/// most `SCOREMATE_READY_MAX_LAG_SECS` behind the log. 503 while one of these fails.
pub fn readyz(
    state: AppState,
) -> impl Filter<Extract = (impl warp::Reply,), Error = warp::Rejection> + Clone {
    warp::path!("readyz")
        .and(warp::get())
        .map(move || state.clone())
        .then(|state: AppState| async move {
            let (database, objects, behind_since) = tokio::join!(
                state.database.ping(),
                state.services.objects.ping(),
                projections::oldest_unapplied(&state.database, &SERVING_VIEWS),
            );
            if let Err(error) = &database {
                tracing::warn!(%error, "readiness: database unreachable");
            }
            if let Err(error) = &objects {
                tracing::warn!(%error, "readiness: object store unreachable");
            }
            let lag = behind_since.map(|since| {
                since.map_or(std::time::Duration::ZERO, |since| {
                    (chrono::Utc::now() - since).to_std().unwrap_or_default()
                })
            });
            let max_lag = state.settings.ready_max_lag_secs;
            let lagging = lag
                .as_ref()
                .is_ok_and(|lag| max_lag > 0 && lag.as_secs() >= max_lag);
            if lagging {
                tracing::warn!(lag = ?lag.as_ref().ok(), max_lag, "readiness: read models lag behind the log");
            }
            let word = |ok: bool| if ok { "ok" } else { "unreachable" };
            let ready = database.is_ok() && objects.is_ok() && !lagging;
            let body = Readiness {
                status: if ready { "ready" } else { "unavailable" },
                database: word(database.is_ok()),
                object_store: word(objects.is_ok()),
                read_models: match &lag {
                    Ok(_) if lagging => "lagging",
                    Ok(_) => "ok",
                    Err(_) => "unknown",
                },
                read_models_lag_seconds: lag.ok().map(|lag| lag.as_secs_f64()),
            };
            let status = if ready {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            warp::reply::with_status(warp::reply::json(&body), status)
        })
}
