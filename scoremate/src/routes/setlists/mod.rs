//! Setlists: `POST/GET /api/v1/setlists`, `GET/PATCH/DELETE /api/v1/setlists/{id}`, items
//! added, removed and reordered. Commands go to the Setlist aggregate; reads come from the
//! `setlists` read model, joined with the live scores so that a deleted score disappears
//! from every setlist at once (its removal events follow from a processor).

pub(super) mod commands;
pub(super) mod queries;
mod views;

use serde_json::{Map, Value};
use warp::http::Method;
use warp::{Filter, Rejection};

use crate::http::authenticate::{Principal, authenticated};
use crate::http::endpoint::{PathParams, endpoint};
use crate::http::etag::{IfMatch, if_match};
use crate::http::extract::json_body;
use crate::http::idempotency::{IdempotencyKey, idempotency_key};
use crate::http::pagination::PageQuery;
use crate::http::reply::into_reply;
use crate::state::AppState;
use commands::{
    add_item, create_setlist, delete_setlist, patch_setlist, remove_item, reorder_items,
};
use queries::{SetlistQuery, get_setlist, list_setlists};

pub fn routes(
    state: &AppState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone + use<> {
    let with_state = state.each_request();
    let auth = authenticated(state.authenticator());
    let create = crate::http::idempotency::post(
        state.clone(),
        state.database.clone(),
        state.authenticator(),
        "/api/v1/setlists",
        create_setlist,
    );
    let list = endpoint(Method::GET, "/api/v1/setlists")
        .and(with_state.clone())
        .and(auth.clone())
        .and(warp::query::<PageQuery>())
        .and(warp::query::<SetlistQuery>())
        .then(|_, state, principal, page, query| list_setlists(state, principal, page, query))
        .map(into_reply);
    let one = endpoint(Method::GET, "/api/v1/setlists/{id}")
        .and(with_state.clone())
        .and(auth.clone())
        .then(|params, state, principal| get_setlist(state, principal, params))
        .map(into_reply);
    let patch = endpoint(Method::PATCH, "/api/v1/setlists/{id}")
        .and(with_state.clone())
        .and(auth.clone())
        .and(if_match())
        .and(json_body())
        .then(|params, state, principal, IfMatch { if_match }, body| {
            patch_setlist(state, principal, params, if_match, body)
        })
        .map(into_reply);
    let delete = endpoint(Method::DELETE, "/api/v1/setlists/{id}")
        .and(with_state.clone())
        .and(auth.clone())
        .and(if_match())
        .then(|params, state, principal, IfMatch { if_match }| {
            delete_setlist(state, principal, params, if_match)
        })
        .map(into_reply);
    let add = endpoint(Method::POST, "/api/v1/setlists/{id}/items")
        .and(with_state.clone())
        .and(auth.clone())
        .and(if_match())
        .and(idempotency_key())
        .and(json_body())
        .then(
            |params: PathParams,
             state: AppState,
             principal: Principal,
             IfMatch { if_match }: IfMatch,
             IdempotencyKey {
                 idempotency_key: key,
             }: IdempotencyKey,
             body: Map<String, Value>| async move {
                let key = crate::http::idempotency::parse_key(key)?;
                let database = state.database.clone();
                let user = principal.user_id;
                // The key covers the setlist too: the same key on another setlist is
                // another request.
                let mut keyed = body.clone();
                keyed.insert(
                    "setlist".to_owned(),
                    Value::String(params.get(0).to_owned()),
                );
                let run = Box::pin(add_item(state, principal, params, if_match, body));
                crate::http::idempotency::once(
                    &database,
                    user,
                    "POST /api/v1/setlists/{id}/items",
                    key,
                    &keyed,
                    run,
                )
                .await
            },
        )
        .map(into_reply);
    let remove = endpoint(Method::DELETE, "/api/v1/setlists/{id}/items/{item_id}")
        .and(with_state.clone())
        .and(auth.clone())
        .and(if_match())
        .then(|params, state, principal, IfMatch { if_match }| {
            remove_item(state, principal, params, if_match)
        })
        .map(into_reply);
    let reorder = endpoint(Method::PUT, "/api/v1/setlists/{id}/items/order")
        .and(with_state)
        .and(auth)
        .and(if_match())
        .and(json_body())
        .then(|params, state, principal, IfMatch { if_match }, body| {
            reorder_items(state, principal, params, if_match, body)
        })
        .map(into_reply);
    create
        .or(list)
        .unify()
        .or(one)
        .unify()
        .or(patch)
        .unify()
        .or(delete)
        .unify()
        .or(add)
        .unify()
        .or(remove)
        .unify()
        .or(reorder)
        .unify()
        .boxed()
}
