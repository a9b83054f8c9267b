//! Liveness and readiness probes for load balancers and orchestrators.

use serde::Serialize;
use warp::Filter;
use warp::http::StatusCode;

use crate::startup::AppState;

#[derive(Debug, Serialize)]
struct Health {
    status: &'static str,
}

#[derive(Debug, Serialize)]
struct Readiness {
    status: &'static str,
    database: &'static str,
}

/// `GET /healthz`: the process is up and serving HTTP.
pub fn healthz() -> impl Filter<Extract = (impl warp::Reply,), Error = warp::Rejection> + Clone {
    warp::path!("healthz")
        .and(warp::get())
        .map(|| warp::reply::json(&Health { status: "ok" }))
}

/// `GET /readyz`: the dependencies a request needs answer. 503 while one does not.
pub fn readyz(
    state: AppState,
) -> impl Filter<Extract = (impl warp::Reply,), Error = warp::Rejection> + Clone {
    warp::path!("readyz")
        .and(warp::get())
        .map(move || state.clone())
        .then(|state: AppState| async move {
            let database_ok = match state.database.ping().await {
                Ok(()) => true,
                Err(error) => {
                    tracing::warn!(error = %error, "readiness: database unreachable");
                    false
                }
            };
            let (status, body) = if database_ok {
                (
                    StatusCode::OK,
                    Readiness {
                        status: "ready",
                        database: "ok",
                    },
                )
            } else {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Readiness {
                        status: "unavailable",
                        database: "unreachable",
                    },
                )
            };
            warp::reply::with_status(warp::reply::json(&body), status)
        })
}
