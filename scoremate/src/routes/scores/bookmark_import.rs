//! `POST /api/v1/scores/{id}/bookmarks:import`: a songbook's index as CSV
//! (`crate::songbook_index`) becomes the score's bookmarks in one command — all rows or,
//! when any is bad, none, every bad line named.

use aggregates::score::import_errors;
use aggregates::{BookmarkId, ImportedBookmark, ScoreCommand, ScoreError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::IntoParams;
use uuid::Uuid;
use warp::Reply;
use warp::http::{Method, StatusCode};
use warp::{Filter, Rejection};

use super::bookmarks::{BookmarkView, Bookmarks, run, score_id};
use super::files::callers_live_score;
use crate::http::authenticate::{Principal, authenticated};
use crate::http::endpoint::{PathParams, endpoint};
use crate::http::error::{ApiError, Problem};
use crate::http::etag::{IfMatch, if_match, with_etag};
use crate::http::extract::csv_body;
use crate::http::idempotency::{IdempotencyKey, idempotency_key};
use crate::http::openapi::{Authenticated, Conditional, CsvBody, IdempotencyKeyReused};
use crate::http::reply::into_reply;
use crate::songbook_index::{IndexOptions, parse};
use crate::state::AppState;

/// The largest page offset an import takes, either way.
const MAX_OFFSET: i64 = 10_000;

/// Which rows of the index to import, and where their pages are.
#[derive(Debug, Clone, Default, Deserialize, Serialize, IntoParams)]
pub struct ImportQuery {
    /// Only the rows whose `Book` column is this (ignoring case): one book of an index
    /// that covers several.
    pub book: Option<String>,
    /// Added to every page number of the file (from -10000 to 10000; default 0): for an
    /// index of printed page numbers in a PDF that starts with front matter.
    pub offset: Option<String>,
}

impl ImportQuery {
    fn offset(&self) -> Result<i64, ApiError> {
        match self.offset.as_deref().map(str::trim) {
            None | Some("") => Ok(0),
            Some(text) => text
                .parse::<i64>()
                .ok()
                .filter(|offset| offset.abs() <= MAX_OFFSET)
                .ok_or_else(|| {
                    ApiError::invalid_field(
                        "offset",
                        &format!("Must be a whole number from -{MAX_OFFSET} to {MAX_OFFSET}."),
                    )
                }),
        }
    }
}

pub fn routes(
    state: &AppState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone + use<> {
    endpoint(Method::POST, "/api/v1/scores/{id}/bookmarks:import")
        .and(state.each_request())
        .and(authenticated(state.authenticator()))
        .and(if_match())
        .and(idempotency_key())
        .and(warp::query::<ImportQuery>())
        .and(csv_body())
        .then(
            |params: PathParams,
             state: AppState,
             principal: Principal,
             IfMatch { if_match }: IfMatch,
             IdempotencyKey {
                 idempotency_key: key,
             }: IdempotencyKey,
             query: ImportQuery,
             body: bytes::Bytes| async move {
                let key = crate::http::idempotency::parse_key(key)?;
                let database = state.database.clone();
                let user = principal.user_id;
                // The key covers the score, the options and the file.
                let mut keyed = Map::new();
                keyed.insert("score".to_owned(), Value::from(params.get(0)));
                keyed.insert("book".to_owned(), Value::from(query.book.clone()));
                keyed.insert("offset".to_owned(), Value::from(query.offset.clone()));
                keyed.insert(
                    "csv".to_owned(),
                    Value::from(String::from_utf8_lossy(&body).into_owned()),
                );
                let run = Box::pin(import_bookmarks(
                    state, principal, params, if_match, query, body,
                ));
                crate::http::idempotency::once(
                    &database,
                    user,
                    "POST /api/v1/scores/{id}/bookmarks:import",
                    key,
                    &keyed,
                    run,
                )
                .await
            },
        )
        .map(into_reply)
        // Boxed: its future would otherwise be nested into every request's stack frame.
        .boxed()
}

#[utoipa::path(
    post, path = "/api/v1/scores/{id}/bookmarks:import", tag = "scores",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The score"), ImportQuery, IfMatch, IdempotencyKey),
    request_body(
        content = String, content_type = "text/csv",
        description = "A header row naming the columns (`Title`, `Start` required; `End`, `Composer`, `Book`, `Tags`, `Key` optional; others ignored), then a piece per row. UTF-8 with or without BOM; comma, semicolon or tab separated. At most 1 MiB and 2,000 rows."
    ),
    responses(
        (status = 201, description = "Every row became a bookmark: the imported ones, in the file's order; `ETag` is the score's new version", body = Bookmarks),
        (status = 400, description = "Nothing was imported: every bad line named in `fields` (`line N`), or a bad `offset` (E007)", body = Problem, content_type = "application/problem+json"),
        Authenticated,
        (status = 404, description = "No such score of the caller (E003)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The score would hold more than 2,000 bookmarks (E008)", body = Problem, content_type = "application/problem+json"),
        Conditional,
        CsvBody,
        IdempotencyKeyReused,
    )
)]
pub async fn import_bookmarks(
    state: AppState,
    principal: Principal,
    params: PathParams,
    if_match: Option<String>,
    query: ImportQuery,
    body: bytes::Bytes,
) -> Result<warp::reply::Response, ApiError> {
    let score_id = score_id(&params)?;
    let offset = query.offset()?;
    let parsed = parse(
        &body,
        IndexOptions {
            book: query.book.as_deref(),
            offset,
        },
    );
    let rows: Vec<ImportedBookmark> = parsed
        .rows
        .into_iter()
        .map(|row| ImportedBookmark {
            line: row.line,
            bookmark_id: BookmarkId::from_uuid(Uuid::now_v7()),
            bookmark: row.bookmark,
        })
        .collect();
    if !parsed.errors.is_empty() {
        // The readable rows' breaches of the rules too, so that one answer names every
        // bad line; without unreadable rows the command alone checks them.
        let score = callers_live_score(&state, &principal, score_id).await?;
        let mut errors = parsed.errors;
        errors.extend(import_errors(&rows, score.page_count()));
        return Err(ScoreError::InvalidBookmark(errors).into());
    }
    let ids: Vec<BookmarkId> = rows.iter().map(|row| row.bookmark_id).collect();
    let command = ScoreCommand::ImportBookmarks {
        user_id: principal.user_id,
        bookmarks: rows,
    };
    let committed = run(&state, &principal, score_id, if_match.as_deref(), command).await?;
    let score = &committed.aggregate;
    let imported = ids
        .into_iter()
        .filter_map(|id| {
            let bookmark = score.bookmarks().get(&id)?;
            Some(BookmarkView::of(id, bookmark, score.page_count()))
        })
        .collect();
    let body = Bookmarks {
        score_id: score_id.into_uuid(),
        version: committed.version,
        page_count: score.page_count(),
        bookmarks: imported,
    };
    let response = warp::reply::with_status(warp::reply::json(&body), StatusCode::CREATED);
    let response = with_etag(response.into_response(), committed.version);
    Ok(state.after_score_change(&committed, response).await)
}
