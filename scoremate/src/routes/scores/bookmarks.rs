//! Bookmarks: the pieces inside a score as ranges of its pages (`/api/v1/scores/{id}/
//! bookmarks[/{bookmark_id}]`). Commands on the Score aggregate (its `ETag` is the score's
//! version); reads from the `scores` read model's working copy of the score.

use aggregates::{
    Bookmark, BookmarkId, BookmarkPatch, MAX_PAGE, Score, ScoreCommand, ScoreStatus, UploadId,
};
use eventstore::{Committed, Database};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;
use warp::Reply;
use warp::http::{Method, StatusCode, header};
use warp::{Filter, Rejection};

use crate::http::authenticate::{Principal, authenticated};
use crate::http::endpoint::{PathParams, endpoint};
use crate::http::error::{ApiError, Problem};
use crate::http::etag::{IfMatch, if_match, parse_if_match, with_etag};
use crate::http::extract::{Fields, json_body, normalize_whole_numbers, patch_from};
use crate::http::openapi::{Authenticated, Conditional, JsonBody, MalformedIfMatch};
use crate::http::reply::into_reply;
use crate::state::AppState;

/// A bookmark as clients see it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct BookmarkView {
    pub id: Uuid,
    pub title: String,
    pub composer: Option<String>,
    /// 1-based, inclusive.
    pub start_page: u32,
    /// 1-based, inclusive.
    pub end_page: u32,
    pub tags: Vec<String>,
    pub key: Option<String>,
    pub notes: Option<String>,
    /// Whether the pages are within the file: null until processing has counted them; a
    /// bookmark made before that which does not fit is kept, with `false`.
    pub fits: Option<bool>,
}

impl BookmarkView {
    pub(super) fn of(id: BookmarkId, bookmark: &Bookmark, page_count: Option<u32>) -> Self {
        Self {
            id: id.into_uuid(),
            title: bookmark.title.clone(),
            composer: bookmark.composer.clone(),
            start_page: bookmark.start_page,
            end_page: bookmark.end_page,
            tags: bookmark.tags.clone(),
            key: bookmark.key.clone(),
            notes: bookmark.notes.clone(),
            fits: page_count.map(|count| bookmark.fits(count)),
        }
    }

    /// A score's bookmarks in page order (then title, then age).
    pub fn all_of(score: &Score) -> Vec<Self> {
        let mut views: Vec<Self> = score
            .bookmarks()
            .iter()
            .map(|(id, bookmark)| Self::of(*id, bookmark, score.page_count()))
            .collect();
        views.sort_by(|a, b| {
            (a.start_page, a.end_page, &a.title, a.id).cmp(&(
                b.start_page,
                b.end_page,
                &b.title,
                b.id,
            ))
        });
        views
    }
}

/// A score's bookmarks.
#[derive(Debug, Serialize, ToSchema)]
pub struct Bookmarks {
    pub score_id: Uuid,
    /// The score's version (its `ETag`: the `If-Match` of bookmark changes).
    pub version: usize,
    /// The file's pages, once processing has counted them.
    pub page_count: Option<u32>,
    /// In page order.
    pub bookmarks: Vec<BookmarkView>,
}

/// What `POST` and `PATCH` take (in a `PATCH`, absent fields stay and `null` clears).
/// The document's only: the handlers read the body field by field (`read_bookmark`,
/// `patch_from`), naming every bad field at once.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct BookmarkRequest {
    /// Not only spaces.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00]*[^\\s\\x00][^\\x00]*$"
    )]
    title: String,
    #[schema(max_length = 200)]
    composer: Option<String>,
    #[schema(minimum = 1, maximum = 100_000)]
    start_page: u32,
    /// Default: `start_page`.
    #[schema(minimum = 1, maximum = 100_000)]
    end_page: Option<u32>,
    #[schema(max_items = 50)]
    tags: Option<Vec<String>>,
    #[schema(max_length = 200)]
    key: Option<String>,
    #[schema(max_length = 10000)]
    notes: Option<String>,
}

/// A new bookmark, every bad field named at once (E007).
fn read_bookmark(body: Map<String, Value>) -> Result<Bookmark, ApiError> {
    let mut fields = Fields::new(body);
    let title = fields.required_string("title").unwrap_or_default();
    let composer = fields.optional_string("composer");
    let page = |fields: &mut Fields, name: &str| {
        fields
            .optional_u64(name, u64::from(MAX_PAGE))
            .and_then(|page| u32::try_from(page).ok())
    };
    let start_page = page(&mut fields, "start_page");
    let end_page = page(&mut fields, "end_page");
    if start_page.is_none() {
        fields.error("start_page", "This field is required.");
    }
    let tags = fields.optional_string_list("tags");
    let key = fields.optional_string("key");
    let notes = fields.optional_string("notes");
    fields.finish()?;
    let start_page = start_page.unwrap_or_default();
    Ok(Bookmark {
        title,
        composer,
        start_page,
        end_page: end_page.unwrap_or(start_page),
        tags,
        key,
        notes,
    })
}

pub(super) fn score_id(params: &PathParams) -> Result<UploadId, ApiError> {
    params.get(0).parse().map_err(|_| ApiError::not_found())
}

fn bookmark_id(params: &PathParams) -> Result<BookmarkId, ApiError> {
    params.get(1).parse().map_err(|_| ApiError::not_found())
}

pub fn routes(
    state: &AppState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone + use<> {
    let with_state = state.each_request();
    let auth = authenticated(state.authenticator());
    let list = endpoint(Method::GET, "/api/v1/scores/{id}/bookmarks")
        .and(with_state.clone())
        .and(auth.clone())
        .then(|params, state, principal| list_bookmarks(state, principal, params))
        .map(into_reply);
    let add = endpoint(Method::POST, "/api/v1/scores/{id}/bookmarks")
        .and(with_state.clone())
        .and(auth.clone())
        .and(if_match())
        .and(json_body())
        .then(|params, state, principal, IfMatch { if_match }, body| {
            add_bookmark(state, principal, params, if_match, body)
        })
        .map(into_reply);
    let one = endpoint(Method::GET, "/api/v1/scores/{id}/bookmarks/{bookmark_id}")
        .and(with_state.clone())
        .and(auth.clone())
        .then(|params, state, principal| get_bookmark(state, principal, params))
        .map(into_reply);
    let patch = endpoint(Method::PATCH, "/api/v1/scores/{id}/bookmarks/{bookmark_id}")
        .and(with_state.clone())
        .and(auth.clone())
        .and(if_match())
        .and(json_body())
        .then(|params, state, principal, IfMatch { if_match }, body| {
            patch_bookmark(state, principal, params, if_match, body)
        })
        .map(into_reply);
    let delete = endpoint(
        Method::DELETE,
        "/api/v1/scores/{id}/bookmarks/{bookmark_id}",
    )
    .and(with_state)
    .and(auth)
    .and(if_match())
    .then(|params, state, principal, IfMatch { if_match }| {
        delete_bookmark(state, principal, params, if_match)
    })
    .map(into_reply);
    list.or(add)
        .unify()
        .or(one)
        .unify()
        .or(patch)
        .unify()
        .or(delete)
        .unify()
        .boxed()
}

/// The caller's live score as the read model holds it, with its version.
async fn stored_score(
    database: &Database,
    principal: &Principal,
    score_id: UploadId,
) -> Result<(Score, usize), ApiError> {
    let query = "SELECT state, version FROM scores \
                 WHERE id = $1 AND owner_id = $2 AND lifecycle = 'confirmed'";
    let id = score_id.to_string();
    let owner = principal.user_id.to_string();
    let row: Option<(Value, i64)> = match database {
        Database::Sqlite(pool) => {
            sqlx::query_as(query)
                .bind(&id)
                .bind(&owner)
                .fetch_optional(pool)
                .await
        }
        Database::Postgres(pool) => {
            sqlx::query_as(query)
                .bind(&id)
                .bind(&owner)
                .fetch_optional(pool)
                .await
        }
    }
    .map_err(|error| ApiError::internal(&error))?;
    let (state, version) = row.ok_or_else(ApiError::not_found)?;
    let score: Score = serde_json::from_value(state).map_err(|error| ApiError::internal(&error))?;
    Ok((score, usize::try_from(version).unwrap_or_default()))
}

#[utoipa::path(
    get, path = "/api/v1/scores/{id}/bookmarks", tag = "scores",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The score")),
    responses(
        (status = 200, description = "The score's bookmarks in page order; `ETag` is the score's version", body = Bookmarks),
        Authenticated,
        (status = 404, description = "No such score of the caller (E003)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_bookmarks(
    state: AppState,
    principal: Principal,
    params: PathParams,
) -> Result<warp::reply::Response, ApiError> {
    let score_id = score_id(&params)?;
    let (score, version) = stored_score(&state.database, &principal, score_id).await?;
    let body = Bookmarks {
        score_id: score_id.into_uuid(),
        version,
        page_count: score.page_count(),
        bookmarks: BookmarkView::all_of(&score),
    };
    Ok(with_etag(warp::reply::json(&body).into_response(), version))
}

#[utoipa::path(
    get, path = "/api/v1/scores/{id}/bookmarks/{bookmark_id}", tag = "scores",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "The score"),
        ("bookmark_id" = Uuid, Path, description = "The bookmark"),
    ),
    responses(
        (status = 200, description = "The bookmark; `ETag` is the score's version", body = BookmarkView),
        Authenticated,
        (status = 404, description = "No such score of the caller, or no such bookmark on it (E003)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_bookmark(
    state: AppState,
    principal: Principal,
    params: PathParams,
) -> Result<warp::reply::Response, ApiError> {
    let (score_id, bookmark_id) = (score_id(&params)?, bookmark_id(&params)?);
    let (score, version) = stored_score(&state.database, &principal, score_id).await?;
    let bookmark = score
        .bookmarks()
        .get(&bookmark_id)
        .ok_or_else(ApiError::not_found)?;
    let view = BookmarkView::of(bookmark_id, bookmark, score.page_count());
    Ok(with_etag(warp::reply::json(&view).into_response(), version))
}

/// Runs `command` on the score (at the `If-Match` version when given), answers the
/// bookmark `bookmark_id` as it is then with `status`, once the read model shows it.
pub(super) async fn run(
    state: &AppState,
    principal: &Principal,
    score_id: UploadId,
    if_match: Option<&str>,
    command: ScoreCommand,
) -> Result<Committed<Score>, ApiError> {
    let expected = if_match.map(parse_if_match).transpose()?.flatten();
    let id = score_id.to_string();
    let metadata = principal.command_metadata();
    let scores = &state.services.scores;
    let committed = match expected {
        Some(version) => {
            scores
                .execute_at_version(&id, version, command, &metadata)
                .await?
        }
        None => scores.execute(&id, command, &metadata).await?,
    };
    let score = &committed.aggregate;
    if !score.is_owned_by(principal.user_id) || score.status() != Some(ScoreStatus::Confirmed) {
        return Err(ApiError::not_found());
    }
    Ok(committed)
}

async fn answer(
    state: &AppState,
    committed: &Committed<Score>,
    bookmark_id: BookmarkId,
    status: StatusCode,
    location: Option<String>,
) -> Result<warp::reply::Response, ApiError> {
    let score = &committed.aggregate;
    let bookmark = score
        .bookmarks()
        .get(&bookmark_id)
        .ok_or_else(ApiError::not_found)?;
    let view = BookmarkView::of(bookmark_id, bookmark, score.page_count());
    let mut response = warp::reply::with_status(warp::reply::json(&view), status).into_response();
    if let Some(location) = location
        .as_deref()
        .and_then(|location| header::HeaderValue::from_str(location).ok())
    {
        response.headers_mut().insert(header::LOCATION, location);
    }
    let response = with_etag(response, committed.version);
    Ok(state.after_score_change(committed, response).await)
}

#[utoipa::path(
    post, path = "/api/v1/scores/{id}/bookmarks", tag = "scores",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The score"), IfMatch),
    request_body = BookmarkRequest,
    responses(
        (status = 201, description = "The new bookmark; `ETag` is the score's new version", body = BookmarkView),
        (status = 400, description = "Invalid fields, pages beyond the file (E007)", body = Problem, content_type = "application/problem+json"),
        Authenticated,
        (status = 404, description = "No such score of the caller (E003)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The score holds the most bookmarks it may (E008)", body = Problem, content_type = "application/problem+json"),
        Conditional,
        JsonBody,
    )
)]
pub async fn add_bookmark(
    state: AppState,
    principal: Principal,
    params: PathParams,
    if_match: Option<String>,
    mut body: Map<String, Value>,
) -> Result<warp::reply::Response, ApiError> {
    let score_id = score_id(&params)?;
    body.values_mut().for_each(normalize_whole_numbers);
    let bookmark = read_bookmark(body)?;
    let bookmark_id = BookmarkId::from_uuid(Uuid::now_v7());
    let command = ScoreCommand::AddBookmark {
        user_id: principal.user_id,
        bookmark_id,
        bookmark,
    };
    let committed = run(&state, &principal, score_id, if_match.as_deref(), command).await?;
    let location = format!("/api/v1/scores/{score_id}/bookmarks/{bookmark_id}");
    answer(
        &state,
        &committed,
        bookmark_id,
        StatusCode::CREATED,
        Some(location),
    )
    .await
}

#[utoipa::path(
    patch, path = "/api/v1/scores/{id}/bookmarks/{bookmark_id}", tag = "scores",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "The score"),
        ("bookmark_id" = Uuid, Path, description = "The bookmark"),
        IfMatch,
    ),
    request_body = BookmarkRequest,
    responses(
        (status = 200, description = "Changed (absent fields stay, `null` clears); `ETag` is the score's new version", body = BookmarkView),
        (status = 400, description = "Invalid fields, pages beyond the file (E007)", body = Problem, content_type = "application/problem+json"),
        Authenticated,
        (status = 404, description = "No such score of the caller, or no such bookmark on it (E003)", body = Problem, content_type = "application/problem+json"),
        Conditional,
        JsonBody,
    )
)]
pub async fn patch_bookmark(
    state: AppState,
    principal: Principal,
    params: PathParams,
    if_match: Option<String>,
    mut body: Map<String, Value>,
) -> Result<warp::reply::Response, ApiError> {
    let (score_id, bookmark_id) = (score_id(&params)?, bookmark_id(&params)?);
    body.values_mut().for_each(normalize_whole_numbers);
    let patch: BookmarkPatch = patch_from(body)?;
    let command = ScoreCommand::UpdateBookmark {
        user_id: principal.user_id,
        bookmark_id,
        patch,
    };
    let committed = run(&state, &principal, score_id, if_match.as_deref(), command).await?;
    answer(&state, &committed, bookmark_id, StatusCode::OK, None).await
}

#[utoipa::path(
    delete, path = "/api/v1/scores/{id}/bookmarks/{bookmark_id}", tag = "scores",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "The score"),
        ("bookmark_id" = Uuid, Path, description = "The bookmark"),
        IfMatch,
    ),
    responses(
        (status = 204, description = "Removed"),
        MalformedIfMatch,
        Authenticated,
        (status = 404, description = "No such score of the caller, or no such bookmark on it (E003)", body = Problem, content_type = "application/problem+json"),
        Conditional,
    )
)]
pub async fn delete_bookmark(
    state: AppState,
    principal: Principal,
    params: PathParams,
    if_match: Option<String>,
) -> Result<warp::reply::Response, ApiError> {
    let (score_id, bookmark_id) = (score_id(&params)?, bookmark_id(&params)?);
    let command = ScoreCommand::RemoveBookmark {
        user_id: principal.user_id,
        bookmark_id,
    };
    let committed = run(&state, &principal, score_id, if_match.as_deref(), command).await?;
    let response = with_etag(StatusCode::NO_CONTENT.into_response(), committed.version);
    Ok(state.after_score_change(&committed, response).await)
}
