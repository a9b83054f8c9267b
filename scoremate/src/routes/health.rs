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
}

/// `GET /healthz`: the process is up and serving HTTP.
pub fn healthz() -> impl Filter<Extract = (impl warp::Reply,), Error = warp::Rejection> + Clone {
    warp::path!("healthz")
        .and(warp::get())
        .map(|| warp::reply::json(&Health { status: "ok" }))
}

/// `GET /readyz`: the database and the object store answer. 503 while one does not.
pub fn readyz(
    state: AppState,
) -> impl Filter<Extract = (impl warp::Reply,), Error = warp::Rejection> + Clone {
    warp::path!("readyz")
        .and(warp::get())
        .map(move || state.clone())
        .then(|state: AppState| async move {
            let (database, objects) =
                tokio::join!(state.database.ping(), state.services.objects.ping());
            if let Err(error) = &database {
                tracing::warn!(%error, "readiness: database unreachable");
            }
            if let Err(error) = &objects {
                tracing::warn!(%error, "readiness: object store unreachable");
            }
            let word = |ok: bool| if ok { "ok" } else { "unreachable" };
            let ready = database.is_ok() && objects.is_ok();
            let body = Readiness {
                status: if ready { "ready" } else { "unavailable" },
                database: word(database.is_ok()),
                object_store: word(objects.is_ok()),
            };
            let status = if ready {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            warp::reply::with_status(warp::reply::json(&body), status)
        })
}
