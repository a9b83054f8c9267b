//! Scores: confirming uploads, editing, deleting, the library (list, search, filters,
//! one score), links to the file and the thumbnail, and bookmarks (pieces as page ranges,
//! one by one or a songbook's whole index imported from CSV).

pub mod bookmark_import;
pub mod bookmarks;
pub(super) mod commands;
pub(super) mod files;
pub mod library;
pub mod previews;
mod views;

pub use views::{BookmarkSummary, ScoreView};

use warp::http::Method;
use warp::{Filter, Rejection};

use crate::http::authenticate::authenticated;
use crate::http::endpoint::endpoint;
use crate::http::etag::{IfMatch, if_match};
use crate::http::extract::json_body;
use crate::http::reply::into_reply;
use crate::state::AppState;
use commands::{confirm_upload, delete_score, patch_score};
use files::{RedirectQuery, download, thumbnail};

pub fn routes(
    state: &AppState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone + use<> {
    // Each part boxed: a request's future otherwise nests every route's future type, and
    // in a debug build the confirmation's S3 calls beneath them outgrow a 2 MiB stack.
    library::routes(state)
        .boxed()
        .or(changes_and_files(state).boxed())
        .unify()
        .or(bookmarks::routes(state))
        .unify()
        .or(bookmark_import::routes(state))
        .unify()
        .or(previews::routes(state))
        .unify()
}

fn changes_and_files(
    state: &AppState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone + use<> {
    let with_state = state.each_request();
    let confirm = crate::http::idempotency::post(
        state.clone(),
        state.database.clone(),
        state.authenticator(),
        "/api/v1/scores",
        confirm_upload,
    );
    let delete = endpoint(Method::DELETE, "/api/v1/scores/{id}")
        .and(with_state.clone())
        .and(authenticated(state.authenticator()))
        .then(|params, state, principal| delete_score(state, principal, params))
        .map(into_reply);
    let with_state_patch = with_state.clone();
    let state_patch = state.clone();
    let file = endpoint(Method::GET, "/api/v1/scores/{id}/file")
        .and(with_state)
        .and(authenticated(state.authenticator()))
        .and(warp::query::<RedirectQuery>())
        .then(|params, state, principal, query: RedirectQuery| {
            download(state, principal, params, query.wanted())
        })
        .map(into_reply);
    let thumbnail_route = endpoint(Method::GET, "/api/v1/scores/{id}/thumbnail")
        .and(with_state_patch.clone())
        .and(authenticated(state_patch.authenticator()))
        .and(warp::query::<RedirectQuery>())
        .then(|params, state, principal, query: RedirectQuery| {
            thumbnail(state, principal, params, query.wanted())
        })
        .map(into_reply);
    let patch = endpoint(Method::PATCH, "/api/v1/scores/{id}")
        .and(with_state_patch)
        .and(authenticated(state_patch.authenticator()))
        .and(if_match())
        .and(json_body())
        .then(|params, state, principal, IfMatch { if_match }, body| {
            patch_score(state, principal, params, if_match, body)
        })
        .map(into_reply);
    confirm
        .or(delete)
        .unify()
        .or(file)
        .unify()
        .or(patch)
        .unify()
        .or(thumbnail_route)
        .unify()
}
