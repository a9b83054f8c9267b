//! Reading the score library from the `scores` read model: `GET /api/v1/scores` (filters,
//! ordering, pagination) and `GET /api/v1/scores/{id}`.

use aggregates::Score;
use chrono::{DateTime, Utc};
use eventstore::Database;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::IntoParams;
use uuid::Uuid;
use warp::http::Method;
use warp::{Filter, Rejection, Reply};

use crate::auth::{Principal, authenticated};
use crate::error::{ApiError, FieldMessages, Problem};
use crate::pagination::{Page, PageQuery, Paginated};
use crate::routes::auth::into_reply;
use crate::routes::scores::ScoreView;
use crate::routing::{PathParams, endpoint};
use crate::sql::{Args, contains_pattern};
use crate::startup::AppState;

/// Filters and ordering of `GET /scores`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, IntoParams)]
pub struct LibraryQuery {
    /// Case-insensitive substring of the title or the composer.
    pub search: Option<String>,
    /// The composer, ignoring case.
    pub composer: Option<String>,
    /// Comma-separated; every one must be among the score's tags (ignoring case).
    pub tags: Option<String>,
    /// One instrument the score's instrumentation must contain (ignoring case).
    pub instrumentation: Option<String>,
    /// `pending`, `ready` or `failed`.
    pub status: Option<String>,
    /// `created_at`, `updated_at` or `title`, `-` for descending (default `-updated_at`).
    pub ordering: Option<String>,
}

fn order_by(ordering: Option<&str>) -> Result<&'static str, ApiError> {
    Ok(match ordering.unwrap_or("-updated_at") {
        "created_at" => "created_at ASC, id ASC",
        "-created_at" => "created_at DESC, id DESC",
        "updated_at" => "updated_at ASC, id ASC",
        "-updated_at" => "updated_at DESC, id DESC",
        "title" => "title_folded ASC, id ASC",
        "-title" => "title_folded DESC, id DESC",
        _ => {
            let mut fields = FieldMessages::new();
            fields.insert(
                "ordering".to_owned(),
                vec![
                    "One of created_at, updated_at, title, each optionally with a leading -."
                        .to_owned(),
                ],
            );
            return Err(ApiError::validation(fields));
        }
    })
}

/// The WHERE clause over `scores`, its arguments starting with the owner.
fn filters(owner: &str, query: &LibraryQuery) -> Result<(String, Args), ApiError> {
    let mut args = Args::new();
    let mut sql = format!(
        "owner_id = {} AND lifecycle = 'confirmed'",
        args.text(owner)
    );
    if let Some(search) = query.search.as_deref().filter(|search| !search.is_empty()) {
        let n = args.text(contains_pattern(search));
        sql.push_str(&format!(
            " AND (title_folded LIKE {n} ESCAPE '\\' OR composer_folded LIKE {n} ESCAPE '\\')"
        ));
    }
    if let Some(composer) = query
        .composer
        .as_deref()
        .filter(|composer| !composer.is_empty())
    {
        let n = args.text(projections::fold(composer.trim()));
        sql.push_str(&format!(" AND composer_folded = {n}"));
    }
    if let Some(instrument) = query
        .instrumentation
        .as_deref()
        .filter(|value| !value.is_empty())
    {
        let n = args.text(projections::fold(instrument.trim()));
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM score_instruments i WHERE i.score_id = scores.id AND i.instrument_folded = {n})"
        ));
    }
    for tag in query
        .tags
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|tag| !tag.is_empty())
    {
        let n = args.text(projections::fold(tag));
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM score_tags t WHERE t.score_id = scores.id AND t.tag_folded = {n})"
        ));
    }
    if let Some(status) = query.status.as_deref().filter(|status| !status.is_empty()) {
        if !matches!(status, "pending" | "ready" | "failed") {
            let mut fields = FieldMessages::new();
            fields.insert(
                "status".to_owned(),
                vec!["One of pending, ready, failed.".to_owned()],
            );
            return Err(ApiError::validation(fields));
        }
        let n = args.text(status);
        sql.push_str(&format!(" AND processing_status = {n}"));
    }
    Ok((sql, args))
}

type ScoreRow = (Value, i64, Option<DateTime<Utc>>, Option<DateTime<Utc>>);

fn view(row: ScoreRow) -> Result<ScoreView, ApiError> {
    let (state, version, created_at, updated_at) = row;
    let score: Score = serde_json::from_value(state).map_err(|error| ApiError::internal(&error))?;
    let created_at = created_at.unwrap_or_default();
    ScoreView::at(
        &score,
        usize::try_from(version).unwrap_or_default(),
        created_at,
        updated_at.unwrap_or(created_at),
    )
    .ok_or_else(ApiError::not_found)
}

pub fn routes(state: AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let with_state = warp::any().map({
        let state = state.clone();
        move || state.clone()
    });
    let list = endpoint(Method::GET, "/api/v1/scores")
        .and(with_state.clone())
        .and(authenticated(state.clone()))
        .and(warp::query::<PageQuery>())
        .and(warp::query::<LibraryQuery>())
        .then(|_, state, principal, page, query| list_scores(state, principal, page, query))
        .map(into_reply);
    let one = endpoint(Method::GET, "/api/v1/scores/{id}")
        .and(with_state)
        .and(authenticated(state))
        .then(|params, state, principal| get_score(state, principal, params))
        .map(into_reply);
    list.or(one).unify()
}

#[utoipa::path(
    get, path = "/api/v1/scores", tag = "scores",
    security(("bearer" = [])),
    params(PageQuery, LibraryQuery),
    responses(
        (status = 200, description = "The caller's scores", body = Paginated<ScoreView>),
        (status = 400, description = "Bad filter, ordering or page (E007)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Invalid token (E002)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Page past the end (E003)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Throttled (E010)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_scores(
    state: AppState,
    principal: Principal,
    page: PageQuery,
    query: LibraryQuery,
) -> Result<warp::reply::Response, ApiError> {
    let page = Page::from_query(&page, &state.public_url, "/api/v1/scores")?.keeping(&query);
    let order = order_by(query.ordering.as_deref())?;
    let (where_sql, mut args) = filters(&principal.user_id.to_string(), &query)?;
    let count = crate::sql::fetch_count(
        &state.database,
        &format!("SELECT count(*) FROM scores WHERE {where_sql}"),
        &args,
    )
    .await
    .map_err(|error| ApiError::internal(&error))?;
    let limit = args.int(i64::try_from(page.size).unwrap_or(100));
    let offset = args.int(i64::try_from(page.offset()).unwrap_or(i64::MAX));
    let rows: Vec<ScoreRow> = crate::sql::fetch_all(
        &state.database,
        &format!(
            "SELECT state, version, created_at, updated_at FROM scores WHERE {where_sql} \
             ORDER BY {order} LIMIT {limit} OFFSET {offset}"
        ),
        &args,
    )
    .await
    .map_err(|error| ApiError::internal(&error))?;
    let results = rows.into_iter().map(view).collect::<Result<Vec<_>, _>>()?;
    let body = page.wrap(u64::try_from(count).unwrap_or_default(), results)?;
    Ok(warp::reply::json(&body).into_response())
}

#[utoipa::path(
    get, path = "/api/v1/scores/{id}", tag = "scores",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The score")),
    responses(
        (status = 200, description = "The score; `ETag` is its version", body = ScoreView),
        (status = 401, description = "Invalid token (E002)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such score of the caller (E003)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Throttled (E010)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_score(
    state: AppState,
    principal: Principal,
    params: PathParams,
) -> Result<warp::reply::Response, ApiError> {
    let id: Uuid = params.get(0).parse().map_err(|_| ApiError::not_found())?;
    let query = "SELECT state, version, created_at, updated_at FROM scores \
                 WHERE id = $1 AND owner_id = $2 AND lifecycle = 'confirmed'";
    let owner = principal.user_id.to_string();
    let row: Option<ScoreRow> = match &state.database {
        Database::Sqlite(pool) => {
            sqlx::query_as(query)
                .bind(id.to_string())
                .bind(&owner)
                .fetch_optional(pool)
                .await
        }
        Database::Postgres(pool) => {
            sqlx::query_as(query)
                .bind(id.to_string())
                .bind(&owner)
                .fetch_optional(pool)
                .await
        }
    }
    .map_err(|error| ApiError::internal(&error))?;
    let view = view(row.ok_or_else(ApiError::not_found)?)?;
    Ok(crate::versioning::with_etag(
        warp::reply::json(&view).into_response(),
        view.version,
    ))
}
