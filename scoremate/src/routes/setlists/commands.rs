//! Changing setlists: each request is a command on the Setlist aggregate, conditional on
//! `If-Match` when given, answered once the read model shows it.

use aggregates::{Setlist, SetlistCommand, SetlistId, SetlistItemId};
use chrono::Utc;
use eventstore::Committed;
use serde_json::{Map, Value};
use uuid::Uuid;
use warp::Reply;
use warp::http::StatusCode;

use super::queries::{load_view, parse_setlist_id, view_of, visible_item_ids};
use super::views::{
    AddItemRequest, ReorderRequest, SetlistItemView, SetlistPatch, SetlistRequest, SetlistView,
};
use crate::http::authenticate::Principal;
use crate::http::endpoint::PathParams;
use crate::http::error::{ApiError, Problem};
use crate::http::etag::{IfMatch, parse_if_match, with_etag};
use crate::http::idempotency::IdempotencyKey;
use crate::http::openapi::{
    Authenticated, Conditional, IdempotencyKeyReused, JsonBody, MalformedIfMatch,
};
use crate::routes::scores::files::callers_live_score;
use crate::state::AppState;

pub(super) fn expected_version(if_match: Option<&str>) -> Result<Option<usize>, ApiError> {
    if_match
        .map(parse_if_match)
        .transpose()
        .map(Option::flatten)
}

/// Runs a setlist command, conditional on `If-Match` when given.
pub(super) async fn run(
    state: &AppState,
    principal: &Principal,
    setlist_id: SetlistId,
    if_match: Option<&str>,
    command: SetlistCommand,
) -> Result<Committed<Setlist>, ApiError> {
    let metadata = principal.command_metadata();
    let id = setlist_id.to_string();
    let setlists = &state.services.setlists;
    Ok(match expected_version(if_match)? {
        Some(version) => {
            setlists
                .execute_at_version(&id, version, command, &metadata)
                .await?
        }
        None => setlists.execute(&id, command, &metadata).await?,
    })
}

/// Translates a position among the visible items into one among all the setlist's items
/// (which may still hold items of a just-deleted score, awaiting their removal event).
pub(super) fn position_among_all(
    setlist: &Setlist,
    visible: &std::collections::HashSet<SetlistItemId>,
    position: usize,
) -> usize {
    let mut seen = 0;
    for (index, item) in setlist.items().iter().enumerate() {
        if visible.contains(&item.item_id) {
            if seen == position {
                return index;
            }
            seen += 1;
        }
    }
    // At or past the end of the visible items: past them all, by as much.
    setlist.items().len() + (position - seen.min(position))
}

/// After a command: waits for the read model (read-your-writes), then answers the setlist
/// as a following GET would; if the read model lags, from the aggregate itself.
pub(super) async fn answer_setlist(
    state: &AppState,
    principal: &Principal,
    setlist_id: SetlistId,
    change: &Committed<Setlist>,
    status: StatusCode,
) -> Result<warp::reply::Response, ApiError> {
    let setlist = &change.aggregate;
    let caught_up = crate::http::read_your_writes::caught_up(
        &state.database,
        &state.services.setlists_view,
        change,
    )
    .await;
    let owner = principal.user_id.to_string();
    let view = match load_view(state, &owner, setlist_id).await? {
        Some(view) if caught_up => view,
        // The read model lags: the answer comes from the state the command decided.
        _ => {
            if setlist.owner() != Some(principal.user_id) || setlist.is_deleted() {
                return Err(ApiError::not_found());
            }
            let now = Utc::now();
            view_of(state, &owner, setlist, change.version, now, now).await?
        }
    };
    let version = view.version;
    let mut response = warp::reply::with_status(warp::reply::json(&view), status).into_response();
    response = with_etag(response, version);
    Ok(crate::http::read_your_writes::mark_lagging(
        response, caught_up,
    ))
}

#[utoipa::path(
    post, path = "/api/v1/setlists", tag = "setlists",
    security(("bearer" = [])),
    params(IdempotencyKey),
    request_body = SetlistRequest,
    responses(
        (status = 201, description = "Created, empty", body = SetlistView),
        (status = 400, description = "Invalid fields (E007)", body = Problem, content_type = "application/problem+json"),
        Authenticated,
        JsonBody,
        IdempotencyKeyReused,
    )
)]
pub async fn create_setlist(
    state: AppState,
    principal: Principal,
    body: Map<String, Value>,
) -> Result<warp::reply::Response, ApiError> {
    let SetlistRequest {
        name,
        description,
        event_date,
        notes,
    } = SetlistRequest::read(body)?;
    let setlist_id = SetlistId::from_uuid(Uuid::now_v7());
    let command = SetlistCommand::CreateSetlist {
        setlist_id,
        owner: principal.user_id,
        name,
        description,
        event_date,
        notes,
    };
    // The id was minted just now: nothing to load.
    let change = state
        .services
        .setlists
        .execute_new(
            &setlist_id.to_string(),
            command,
            &principal.command_metadata(),
        )
        .await?;
    answer_setlist(&state, &principal, setlist_id, &change, StatusCode::CREATED).await
}

#[utoipa::path(
    patch, path = "/api/v1/setlists/{id}", tag = "setlists",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "The setlist"),
        IfMatch,
    ),
    request_body = SetlistPatch,
    responses(
        (status = 200, description = "Changed (absent fields stay, `null` clears)", body = SetlistView),
        (status = 400, description = "Invalid fields (E007)", body = Problem, content_type = "application/problem+json"),
        Authenticated,
        (status = 404, description = "No such setlist of the caller (E003)", body = Problem, content_type = "application/problem+json"),
        Conditional,
        JsonBody,
    )
)]
pub async fn patch_setlist(
    state: AppState,
    principal: Principal,
    params: PathParams,
    if_match: Option<String>,
    body: Map<String, Value>,
) -> Result<warp::reply::Response, ApiError> {
    let setlist_id = parse_setlist_id(&params, 0)?;
    let SetlistPatch {
        name,
        description,
        event_date,
        notes,
    } = SetlistPatch::read(body)?;
    let command = SetlistCommand::UpdateSetlistDetails {
        user_id: principal.user_id,
        name,
        description,
        event_date,
        notes,
    };
    let change = run(&state, &principal, setlist_id, if_match.as_deref(), command).await?;
    answer_setlist(&state, &principal, setlist_id, &change, StatusCode::OK).await
}

#[utoipa::path(
    delete, path = "/api/v1/setlists/{id}", tag = "setlists",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "The setlist"),
        IfMatch,
    ),
    responses(
        (status = 204, description = "Deleted"),
        MalformedIfMatch,
        Authenticated,
        (status = 404, description = "No such setlist of the caller (E003)", body = Problem, content_type = "application/problem+json"),
        Conditional,
    )
)]
pub async fn delete_setlist(
    state: AppState,
    principal: Principal,
    params: PathParams,
    if_match: Option<String>,
) -> Result<warp::reply::Response, ApiError> {
    let setlist_id = parse_setlist_id(&params, 0)?;
    let command = SetlistCommand::DeleteSetlist {
        user_id: principal.user_id,
    };
    let change = run(&state, &principal, setlist_id, if_match.as_deref(), command).await?;
    Ok(state
        .after_setlist_change(&change, StatusCode::NO_CONTENT.into_response())
        .await)
}

#[utoipa::path(
    post, path = "/api/v1/setlists/{id}/items", tag = "setlists",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "The setlist"),
        IfMatch,
        IdempotencyKey,
    ),
    request_body = AddItemRequest,
    responses(
        (status = 201, description = "The new item", body = SetlistItemView),
        (status = 400, description = "Invalid fields or position past the end (E007)", body = Problem, content_type = "application/problem+json"),
        Authenticated,
        (status = 404, description = "No such setlist, no such live score of the caller, or no such bookmark on it (E003)", body = Problem, content_type = "application/problem+json"),
        Conditional,
        JsonBody,
        IdempotencyKeyReused,
    )
)]
pub async fn add_item(
    state: AppState,
    principal: Principal,
    params: PathParams,
    if_match: Option<String>,
    body: Map<String, Value>,
) -> Result<warp::reply::Response, ApiError> {
    let setlist_id = parse_setlist_id(&params, 0)?;
    let AddItemRequest {
        score_id,
        bookmark_id,
        pages,
        position,
        note,
    } = AddItemRequest::read(body)?;
    // Only the caller's own, live scores may be added; others do not exist for them.
    let score = callers_live_score(&state, &principal, score_id).await?;
    // A bookmark that is not on the score does not exist for the caller either.
    if bookmark_id.is_some_and(|id| !score.bookmarks().contains_key(&id)) {
        return Err(ApiError::not_found());
    }
    if let (Some(pages), Some(page_count)) = (&pages, score.page_count())
        && pages.iter().any(|page| *page > page_count)
    {
        return Err(ApiError::invalid_field(
            "pages",
            &format!("Must be pages of the file, 1 to {page_count}."),
        ));
    }
    let position = match position {
        Some(position) => {
            let current = state
                .services
                .setlists
                .load(&setlist_id.to_string())
                .await?;
            if current.aggregate.owner() == Some(principal.user_id) {
                let visible = visible_item_ids(&state, &principal, &current.aggregate).await?;
                Some(position_among_all(&current.aggregate, &visible, position))
            } else {
                Some(position)
            }
        }
        None => None,
    };
    let item_id = SetlistItemId::from_uuid(Uuid::now_v7());
    let command = SetlistCommand::AddSetlistItem {
        user_id: principal.user_id,
        item_id,
        score_id,
        bookmark_id,
        pages,
        position,
        note,
    };
    let change = run(&state, &principal, setlist_id, if_match.as_deref(), command).await?;
    let caught_up = crate::http::read_your_writes::caught_up(
        &state.database,
        &state.services.setlists_view,
        &change,
    )
    .await;
    let loaded = state
        .services
        .setlists
        .load(&setlist_id.to_string())
        .await?;
    let now = Utc::now();
    let view = view_of(
        &state,
        &principal.user_id.to_string(),
        &loaded.aggregate,
        loaded.version,
        now,
        now,
    )
    .await?;
    // Deleted meanwhile: the item went with its score.
    let item = view
        .items
        .into_iter()
        .find(|item| item.id == item_id.into_uuid())
        .ok_or_else(ApiError::not_found)?;
    let response = warp::reply::with_status(warp::reply::json(&item), StatusCode::CREATED);
    Ok(crate::http::read_your_writes::mark_lagging(
        with_etag(response.into_response(), loaded.version),
        caught_up,
    ))
}

#[utoipa::path(
    delete, path = "/api/v1/setlists/{id}/items/{item_id}", tag = "setlists",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "The setlist"),
        ("item_id" = Uuid, Path, description = "The item"),
        IfMatch,
    ),
    responses(
        (status = 204, description = "Removed; later items moved up"),
        MalformedIfMatch,
        Authenticated,
        (status = 404, description = "No such setlist or item of the caller (E003)", body = Problem, content_type = "application/problem+json"),
        Conditional,
    )
)]
pub async fn remove_item(
    state: AppState,
    principal: Principal,
    params: PathParams,
    if_match: Option<String>,
) -> Result<warp::reply::Response, ApiError> {
    let setlist_id = parse_setlist_id(&params, 0)?;
    let item_id: SetlistItemId = params.get(1).parse().map_err(|_| ApiError::not_found())?;
    let command = SetlistCommand::RemoveSetlistItem {
        user_id: principal.user_id,
        item_id,
    };
    let change = run(&state, &principal, setlist_id, if_match.as_deref(), command).await?;
    Ok(state
        .after_setlist_change(&change, StatusCode::NO_CONTENT.into_response())
        .await)
}

#[utoipa::path(
    put, path = "/api/v1/setlists/{id}/items/order", tag = "setlists",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "The setlist"),
        IfMatch,
    ),
    request_body = ReorderRequest,
    responses(
        (status = 200, description = "The setlist in its new order", body = SetlistView),
        (status = 400, description = "Not a permutation of the current items, or invalid fields (E007)", body = Problem, content_type = "application/problem+json"),
        Authenticated,
        (status = 404, description = "No such setlist of the caller (E003)", body = Problem, content_type = "application/problem+json"),
        Conditional,
        JsonBody,
    )
)]
pub async fn reorder_items(
    state: AppState,
    principal: Principal,
    params: PathParams,
    if_match: Option<String>,
    body: Map<String, Value>,
) -> Result<warp::reply::Response, ApiError> {
    let setlist_id = parse_setlist_id(&params, 0)?;
    let ReorderRequest { mut item_ids } = ReorderRequest::read(body)?;
    // Items of deleted scores are hidden but may await their removal event: they keep
    // their place at the end, so the permutation is checked over the visible items.
    let loaded = state
        .services
        .setlists
        .load(&setlist_id.to_string())
        .await?;
    if loaded.aggregate.owner() == Some(principal.user_id) {
        let visible = visible_item_ids(&state, &principal, &loaded.aggregate).await?;
        item_ids.extend(
            loaded
                .aggregate
                .items()
                .iter()
                .map(|item| item.item_id)
                .filter(|id| !visible.contains(id)),
        );
    }
    let command = SetlistCommand::ReorderSetlistItems {
        user_id: principal.user_id,
        item_ids,
    };
    let change = run(&state, &principal, setlist_id, if_match.as_deref(), command).await?;
    answer_setlist(&state, &principal, setlist_id, &change, StatusCode::OK).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use aggregates::ScoreId;

    #[test]
    fn positions_among_visible_items_skip_the_hidden_ones() {
        use cqrs_es::Aggregate;
        let item = |n: u128| SetlistItemId::from_uuid(Uuid::from_u128(n));
        let mut setlist = Setlist::default();
        for n in 1..=3 {
            setlist.apply(aggregates::SetlistEvent::SetlistItemAdded {
                item_id: item(n),
                score_id: ScoreId::from_uuid(Uuid::from_u128(100 + n)),
                bookmark_id: None,
                pages: None,
                position: usize::try_from(n - 1).unwrap_or_default(),
                note: None,
            });
        }
        // Items 1, 2, 3 with item 2's score deleted: the reader sees [1, 3].
        let visible = [item(1), item(3)].into_iter().collect();
        assert_eq!(position_among_all(&setlist, &visible, 0), 0);
        assert_eq!(position_among_all(&setlist, &visible, 1), 2);
        assert_eq!(position_among_all(&setlist, &visible, 2), 3, "appends");
        assert_eq!(
            position_among_all(&setlist, &visible, 4),
            5,
            "still past the end"
        );
    }
}
