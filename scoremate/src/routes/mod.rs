//! The HTTP API, one module per resource, and the router over all of them.

mod audit;
mod auth;
mod health;
mod me;
pub mod openapi;
pub mod scores;
mod setlists;
mod sync;
mod uploads;

use std::sync::Arc;

use warp::Filter;

use crate::http::{error, extract, throttle};
use crate::state::AppState;

/// Every route of the service, errors included.
pub fn router(
    state: AppState,
) -> impl Filter<Extract = (impl warp::Reply,), Error = std::convert::Infallible> + Clone {
    let api = auth::routes(state.clone())
        .or(me::routes(&state))
        .or(audit::routes(&state))
        .or(uploads::routes(&state))
        .or(scores::routes(&state))
        .or(setlists::routes(&state))
        .or(sync::routes(&state));
    let throttled_api = warp::path("api")
        .and(warp::path("v1"))
        .and(throttle::throttled(
            Arc::clone(&state.services.throttle),
            Arc::clone(&state.services.tokens),
        ))
        .and(extract::query_without_nul())
        .and(openapi::routes().or(api));
    let page = Arc::clone(&state.web_page);
    health::healthz()
        .or(health::readyz(state))
        .or(throttled_api)
        .or(openapi::routes())
        .or(crate::web::routes(page))
        .recover(error::recover)
}
