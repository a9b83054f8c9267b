//! Reading the score library from the `scores` read model: `GET /api/v1/scores` (filters,
//! ordering, pagination) and `GET /api/v1/scores/{id}`.

use aggregates::Score;
use chrono::{DateTime, SecondsFormat, Utc};
use eventstore::Database;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::IntoParams;
use uuid::Uuid;
use warp::http::Method;
use warp::{Filter, Rejection, Reply};

use super::views::{BookmarkSummary, ScoreView};
use crate::http::authenticate::{Principal, authenticated};
use crate::http::endpoint::{PathParams, endpoint};
use crate::http::error::{ApiError, Problem};
use crate::http::openapi::{Authenticated, PagePastEnd};
use crate::http::pagination::{Count, Page, PageQuery, Paginated, Position};
use crate::http::reply::into_reply;
use crate::sql::{Args, KeyColumn, KeyKind, contains_pattern};
use crate::state::AppState;

/// Filters and ordering of `GET /scores`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, IntoParams)]
pub struct LibraryQuery {
    /// Case-insensitive substring of the title or the composer, of the score or of one of
    /// its bookmarks (those are listed in `bookmark_hits`).
    pub search: Option<String>,
    /// The composer, ignoring case.
    pub composer: Option<String>,
    /// Comma-separated; every one must be among the score's tags (ignoring case).
    pub tags: Option<String>,
    /// One instrument the score's instrumentation must contain (ignoring case).
    pub instrumentation: Option<String>,
    /// `pending`, `ready` or `failed`.
    pub status: Option<String>,
    /// The file's SHA-256, lowercase hex: the caller's scores holding exactly these bytes.
    pub sha256: Option<String>,
    /// `created_at`, `updated_at` or `title`, `-` for descending (default `-updated_at`).
    pub ordering: Option<String>,
    /// `true` (or `false`, the default) adds a presigned GET `url` to each ready
    /// `thumbnail`: valid for at least five minutes, and the same URL for a while, so a
    /// browser caches the image.
    pub thumbnail_urls: Option<String>,
}

/// How long one signature of a listed thumbnail is handed out (each is valid for twice
/// this from its start).
const THUMBNAIL_URL_WINDOW: std::time::Duration = std::time::Duration::from_secs(300);

impl LibraryQuery {
    /// Whether the answer carries thumbnail links (`thumbnail_urls=true|false`).
    fn wants_thumbnail_urls(&self) -> Result<bool, ApiError> {
        match self.thumbnail_urls.as_deref() {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(_) => Err(ApiError::invalid_field(
                "thumbnail_urls",
                "must be true or false",
            )),
        }
    }
}

/// How `GET /scores` orders: by one column, then by id, both the same way.
#[derive(Debug, Clone, Copy)]
struct Ordering {
    /// The `ordering` parameter that asks for it (what a cursor belongs to).
    name: &'static str,
    /// The column, then the id.
    columns: [KeyColumn; 2],
}

const ORDERINGS: [Ordering; 6] = [
    Ordering::new("created_at", "created_at", KeyKind::Time, false),
    Ordering::new("-created_at", "created_at", KeyKind::Time, true),
    Ordering::new("updated_at", "updated_at", KeyKind::Time, false),
    Ordering::new("-updated_at", "updated_at", KeyKind::Time, true),
    Ordering::new("title", "title_folded", KeyKind::Text, false),
    Ordering::new("-title", "title_folded", KeyKind::Text, true),
];

impl Ordering {
    const fn new(
        name: &'static str,
        column: &'static str,
        kind: KeyKind,
        descending: bool,
    ) -> Self {
        Self {
            name,
            columns: [
                KeyColumn::new(column, descending, kind),
                KeyColumn::new("id", descending, KeyKind::Text),
            ],
        }
    }

    fn parse(ordering: Option<&str>) -> Result<Self, ApiError> {
        let name = ordering.unwrap_or("-updated_at");
        ORDERINGS
            .into_iter()
            .find(|ordering| ordering.name == name)
            .ok_or_else(|| {
                ApiError::invalid_field(
                    "ordering",
                    "One of created_at, updated_at, title, each optionally with a leading -.",
                )
            })
    }

    /// The key a cursor holds for `row`: its ordering column, then its id.
    fn key_of(self, row: &ScoreRow) -> Vec<Value> {
        let value = match self.columns[0].expression {
            "title_folded" => row.title_folded.clone(),
            "created_at" => instant_text(row.created_at),
            _ => instant_text(row.updated_at),
        };
        vec![Value::String(value), Value::String(row.id.clone())]
    }
}

fn instant_text(instant: Option<DateTime<Utc>>) -> String {
    instant
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Filtered totals are counted up to this many; beyond, the answer says "at least" (a
/// count of every match would cost what the library's size costs).
pub const COUNT_CAP: u64 = 1_000;

/// The filters of a request, checked and folded as the read model stores them.
#[derive(Debug, Default)]
struct Filters {
    search: Option<String>,
    composer: Option<String>,
    /// `t:<tag>` and `i:<instrument>`, as in the `facets` column.
    facets: Vec<String>,
    status: Option<String>,
    sha256: Option<String>,
}

impl Filters {
    fn of(query: &LibraryQuery) -> Result<Self, ApiError> {
        let given = |value: &Option<String>| value.clone().filter(|value| !value.is_empty());
        let mut facets: Vec<String> = query
            .tags
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|tag| !tag.is_empty())
            .map(|tag| format!("t:{}", projections::fold(tag)))
            .collect();
        if let Some(instrument) = given(&query.instrumentation) {
            facets.push(format!("i:{}", projections::fold(instrument.trim())));
        }
        let sha256 = given(&query.sha256);
        if let Some(sha256) = &sha256
            && !aggregates::validation::is_sha256_hex(sha256)
        {
            return Err(ApiError::invalid_field(
                "sha256",
                "Must be 64 lowercase hexadecimal characters.",
            ));
        }
        let status = given(&query.status);
        if let Some(status) = &status
            && !matches!(status.as_str(), "pending" | "ready" | "failed")
        {
            return Err(ApiError::invalid_field(
                "status",
                "One of pending, ready, failed.",
            ));
        }
        Ok(Self {
            search: given(&query.search),
            composer: given(&query.composer).map(|composer| projections::fold(composer.trim())),
            facets,
            status,
            sha256,
        })
    }

    /// Whether the per-owner counters answer the total.
    fn counted_ahead(&self) -> bool {
        self.search.is_none()
            && self.composer.is_none()
            && self.facets.is_empty()
            && self.sha256.is_none()
    }

    /// `FROM … WHERE …` of the owner's matching scores, with its arguments. On PostgreSQL
    /// the indexes serve the conditions as written (trigram GIN indexes the `LIKE`s, a GIN
    /// index the facets), and the planner chooses between them and the owner's indexes.
    /// On SQLite, `led` (for a count, or a page of at most `COUNT_CAP` matches) starts
    /// from the candidates the FTS5 tables find, fetches those rows and lets the exact
    /// conditions decide; otherwise (many matches) the owner's rows are walked in index
    /// order and each is tested, which finds a page of dense matches sooner than reading
    /// every candidate would.
    fn source(&self, database: &Database, owner: &str, led: bool) -> (String, Args) {
        let mut args = Args::new();
        let mut conditions = format!(
            "owner_id = {} AND lifecycle = 'confirmed'",
            args.text(owner)
        );
        if let Some(search) = &self.search {
            let n = args.text(contains_pattern(search));
            conditions.push_str(&format!(
                " AND (title_folded LIKE {n} ESCAPE '\\' OR composer_folded LIKE {n} ESCAPE '\\' \
                 OR bookmarks_folded LIKE {n} ESCAPE '\\')"
            ));
        }
        if let Some(composer) = &self.composer {
            let n = args.text(composer.clone());
            conditions.push_str(&format!(" AND composer_folded = {n}"));
        }
        if let Some(status) = &self.status {
            let n = args.text(status.clone());
            conditions.push_str(&format!(" AND processing_status = {n}"));
        }
        if let Some(sha256) = &self.sha256 {
            let n = args.text(sha256.clone());
            conditions.push_str(&format!(" AND sha256 = {n}"));
        }
        let Database::Sqlite(_) = database else {
            if !self.facets.is_empty() {
                let n = args.text(Value::from(self.facets.clone()).to_string());
                conditions.push_str(&format!(" AND facets @> CAST({n} AS jsonb)"));
            }
            return (format!("FROM scores WHERE {conditions}"), args);
        };
        let mut hits = Vec::new();
        // Trigrams need three characters: a shorter search is left to its `LIKE`.
        if let Some(search) = &self.search
            && projections::fold(search).chars().count() >= 3
            && led
        {
            let phrase = format!("\"{}\"", projections::fold(search).replace('"', "\"\""));
            let n = args.text(format!(
                "{{title_folded composer_folded bookmarks_folded}} : {phrase}"
            ));
            hits.push(format!(
                "SELECT rowid AS hit FROM scores_search WHERE scores_search MATCH {n}"
            ));
        }
        if !self.facets.is_empty() && led {
            // The tokens are exact: a match is a score with every one of these facets.
            let tokens: Vec<String> = self
                .facets
                .iter()
                .map(|facet| facet_token(owner, facet))
                .collect();
            let n = args.text(tokens.join(" AND "));
            hits.push(format!(
                "SELECT rowid AS hit FROM scores_facets WHERE scores_facets MATCH {n}"
            ));
        }
        if !led {
            for facet in &self.facets {
                let (table, column, name) = match facet.split_at(2) {
                    ("t:", tag) => ("score_tags", "tag_folded", tag),
                    (_, instrument) => ("score_instruments", "instrument_folded", instrument),
                };
                let n = args.text(name);
                conditions.push_str(&format!(
                    " AND EXISTS (SELECT 1 FROM {table} f WHERE f.score_id = scores.id AND f.{column} = {n})"
                ));
            }
        }
        let source = if hits.is_empty() {
            format!("FROM scores WHERE {conditions}")
        } else {
            format!(
                "FROM ({}) AS hits CROSS JOIN scores ON scores.rowid = hits.hit WHERE {conditions}",
                hits.join(" INTERSECT ")
            )
        };
        (source, args)
    }
}

/// The `scores_facets` token of one of `owner`'s facets (SQLite): `f` and the hex of
/// `<owner>:<facet>`, as the table's triggers write it (`'f' || hex(…)`).
fn facet_token(owner: &str, facet: &str) -> String {
    let mut token = String::from("f");
    for byte in format!("{owner}:{facet}").bytes() {
        token.push_str(&format!("{byte:02X}"));
    }
    token
}

/// A listed score with what its ordering key is made of.
#[derive(Debug, sqlx::FromRow)]
struct ScoreRow {
    id: String,
    title_folded: String,
    state: Value,
    version: i64,
    created_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
}

fn view(
    state: Value,
    version: i64,
    created_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
) -> Result<ScoreView, ApiError> {
    let score: Score = serde_json::from_value(state).map_err(|error| ApiError::internal(&error))?;
    view_of(&score, version, created_at, updated_at)
}

fn view_of(
    score: &Score,
    version: i64,
    created_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
) -> Result<ScoreView, ApiError> {
    let created_at = created_at.unwrap_or_default();
    ScoreView::at(
        score,
        usize::try_from(version).unwrap_or_default(),
        created_at,
        updated_at.unwrap_or(created_at),
    )
    .ok_or_else(ApiError::not_found)
}

/// The bookmarks of `score` whose title or composer contains `search` (folded), as the
/// read model's `bookmarks_folded` let the score match: in page order.
fn bookmark_hits(score: &Score, search: &str) -> Vec<BookmarkSummary> {
    let mut hits: Vec<BookmarkSummary> = score
        .bookmarks()
        .iter()
        .filter(|(_, bookmark)| {
            std::iter::once(&bookmark.title)
                .chain(&bookmark.composer)
                .any(|text| projections::fold(text).contains(search))
        })
        .map(|(id, bookmark)| BookmarkSummary::of(*id, bookmark))
        .collect();
    hits.sort_by(|a, b| {
        (a.start_page, a.end_page, &a.title, a.id).cmp(&(b.start_page, b.end_page, &b.title, b.id))
    });
    hits
}

pub fn routes(
    state: &AppState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone + use<> {
    let with_state = state.each_request();
    let list = endpoint(Method::GET, "/api/v1/scores")
        .and(with_state.clone())
        .and(authenticated(state.authenticator()))
        .and(warp::query::<PageQuery>())
        .and(warp::query::<LibraryQuery>())
        .then(|_, state, principal, page, query| list_scores(state, principal, page, query))
        .map(into_reply);
    let one = endpoint(Method::GET, "/api/v1/scores/{id}")
        .and(with_state)
        .and(authenticated(state.authenticator()))
        .then(|params, state, principal| get_score(state, principal, params))
        .map(into_reply);
    let duplicates = endpoint(Method::GET, "/api/v1/scores/duplicates")
        .and(state.each_request())
        .and(authenticated(state.authenticator()))
        .then(|_, state, principal| list_duplicates(state, principal))
        .map(into_reply);
    // Before `one`, whose `{id}` would take the word.
    duplicates.or(list).unify().or(one).unify()
}

#[utoipa::path(
    get, path = "/api/v1/scores", tag = "scores",
    security(("bearer" = [])),
    params(PageQuery, LibraryQuery),
    responses(
        (status = 200, description = "The caller's scores", body = Paginated<ScoreView>),
        (status = 400, description = "Bad filter, ordering, page or cursor (E007)", body = Problem, content_type = "application/problem+json"),
        Authenticated,
        PagePastEnd,
    )
)]
pub async fn list_scores(
    state: AppState,
    principal: Principal,
    page: PageQuery,
    query: LibraryQuery,
) -> Result<warp::reply::Response, ApiError> {
    let page = Page::from_query(&page, &state.public_url, "/api/v1/scores")?.keeping(&query);
    let thumbnail_urls = query.wants_thumbnail_urls()?;
    let owner = principal.user_id.to_string();
    let read = read_page(&state.database, &owner, &page, &query).await?;
    let search = query
        .search
        .as_deref()
        .filter(|search| !search.is_empty())
        .map(projections::fold);
    let rows = read
        .rows
        .into_iter()
        .map(|row| {
            let key = read.ordering.key_of(&row);
            let score: Score =
                serde_json::from_value(row.state).map_err(|error| ApiError::internal(&error))?;
            let mut view = view_of(&score, row.version, row.created_at, row.updated_at)?;
            if let Some(search) = &search {
                view.bookmark_hits = Some(bookmark_hits(&score, search));
            }
            let thumbnail_key = score.thumbnail_object_key().map(str::to_owned);
            Ok((view, key, thumbnail_key))
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let mut results = Vec::with_capacity(rows.len());
    for (mut view, key, thumbnail_key) in rows {
        if thumbnail_urls
            && let (Some(thumbnail), Some(object_key)) = (view.thumbnail.as_mut(), thumbnail_key)
        {
            let link = state
                .services
                .objects
                .presign_get_cacheable(&object_key, THUMBNAIL_URL_WINDOW)
                .await?;
            thumbnail["url"] = Value::String(link.url);
        }
        results.push((view, key));
    }
    let body = page.wrap_keyed(read.ordering.name, &read.position, read.count, results)?;
    Ok(warp::reply::json(&body).into_response())
}

/// One page of a library as the database answers it: the total, and the rows of the page
/// (one more when more follow) in the order they were read.
#[derive(Debug)]
pub struct LibraryPage {
    pub count: Count,
    ordering: Ordering,
    position: Position,
    rows: Vec<ScoreRow>,
}

impl LibraryPage {
    /// The rows read: the page, plus one when more follow.
    pub fn rows_read(&self) -> usize {
        self.rows.len()
    }
}

/// The statements of `GET /scores` for `owner`, run: the total, then the page. Public for
/// the `library` benchmark, which times them beside the whole request.
pub async fn read_page(
    database: &Database,
    owner: &str,
    page: &Page,
    query: &LibraryQuery,
) -> Result<LibraryPage, ApiError> {
    read_page_traced(database, owner, page, query, &mut Vec::new()).await
}

/// The plan of each of `read_page`'s statements, as the database explains it (PostgreSQL
/// `EXPLAIN ANALYZE`, SQLite `EXPLAIN QUERY PLAN`): for the `library` benchmark.
pub async fn explain_page(
    database: &Database,
    owner: &str,
    page: &Page,
    query: &LibraryQuery,
) -> Result<Vec<String>, ApiError> {
    let mut statements = Vec::new();
    read_page_traced(database, owner, page, query, &mut statements).await?;
    let explain = match database {
        Database::Postgres(_) => "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)",
        Database::Sqlite(_) => "EXPLAIN QUERY PLAN",
    };
    let mut lines = Vec::new();
    for (sql, args) in statements {
        lines.push(sql.clone());
        let plan: Vec<PlanLine> =
            crate::sql::fetch_all(database, &format!("{explain} {sql}"), &args)
                .await
                .map_err(|error| ApiError::internal(&error))?;
        lines.extend(plan.into_iter().map(PlanLine::text));
    }
    Ok(lines)
}

/// A line of a plan: PostgreSQL's one text column; SQLite's id, parent, unused, detail.
enum PlanLine {
    Text(String),
    Node(i64, i64, String),
}

impl PlanLine {
    fn text(self) -> String {
        match self {
            Self::Text(text) => text,
            Self::Node(id, parent, detail) => format!("  {id:>3} {parent:>3} {detail}"),
        }
    }
}

impl<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> for PlanLine {
    fn from_row(row: &'r sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        use sqlx::Row;
        Ok(Self::Text(format!("  {}", row.try_get::<String, _>(0)?)))
    }
}

impl<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> for PlanLine {
    fn from_row(row: &'r sqlx::sqlite::SqliteRow) -> Result<Self, sqlx::Error> {
        use sqlx::Row;
        Ok(Self::Node(
            row.try_get(0)?,
            row.try_get(1)?,
            row.try_get(3)?,
        ))
    }
}

/// `read_page`, with each statement it ran added to `statements`.
async fn read_page_traced(
    database: &Database,
    owner: &str,
    page: &Page,
    query: &LibraryQuery,
    statements: &mut Vec<(String, Args)>,
) -> Result<LibraryPage, ApiError> {
    let ordering = Ordering::parse(query.ordering.as_deref())?;
    let position = page.position(ordering.name)?;
    let filters = Filters::of(query)?;
    let count = count(database, owner, &filters, statements).await?;
    let backwards = matches!(position, Position::Before(_));
    // Up to `COUNT_CAP` matches are read and sorted faster than the owner's rows are
    // walked in order looking for them.
    let (source, mut args) = filters.source(database, owner, count.exact);
    let mut sql =
        format!("SELECT id, title_folded, state, version, created_at, updated_at {source}");
    if let Position::After(key) | Position::Before(key) = &position {
        let beyond = crate::sql::beyond(&ordering.columns, key, backwards, &mut args)
            .ok_or_else(crate::http::pagination::refused_cursor)?;
        sql.push_str(&format!(" AND {beyond}"));
    }
    let limit = args.int(i64::try_from(page.size + 1).unwrap_or(101));
    sql.push_str(&format!(
        " ORDER BY {} LIMIT {limit}",
        crate::sql::order_by(&ordering.columns, backwards)
    ));
    if let Position::Number(_) = position {
        let offset = args.int(i64::try_from(page.offset()).unwrap_or(i64::MAX));
        sql.push_str(&format!(" OFFSET {offset}"));
    }
    statements.push((sql.clone(), args.clone()));
    let rows = crate::sql::fetch_all(database, &sql, &args)
        .await
        .map_err(|error| ApiError::internal(&error))?;
    Ok(LibraryPage {
        count,
        ordering,
        position,
        rows,
    })
}

/// The total of a listing: the owner's counters when no filter but the status is given,
/// else the matches counted up to [`COUNT_CAP`].
async fn count(
    database: &Database,
    owner: &str,
    filters: &Filters,
    statements: &mut Vec<(String, Args)>,
) -> Result<Count, ApiError> {
    let count = if filters.counted_ahead() {
        let mut counter_args = Args::new();
        let mut sql = format!(
            "SELECT CAST(coalesce(sum(scores), 0) AS BIGINT) FROM score_counts WHERE owner_id = {}",
            counter_args.text(owner)
        );
        if let Some(status) = &filters.status {
            let n = counter_args.text(status.clone());
            sql.push_str(&format!(" AND processing_status = {n}"));
        }
        statements.push((sql.clone(), counter_args.clone()));
        crate::sql::fetch_count(database, &sql, &counter_args)
            .await
            .map(|total| Count::exact(u64::try_from(total).unwrap_or_default()))
    } else {
        let (source, args) = filters.source(database, owner, true);
        let sql = format!(
            "SELECT count(*) FROM (SELECT 1 {source} LIMIT {}) AS counted",
            COUNT_CAP + 1
        );
        statements.push((sql.clone(), args.clone()));
        crate::sql::fetch_count(database, &sql, &args)
            .await
            .map(|matches| {
                let matches = u64::try_from(matches).unwrap_or_default();
                Count {
                    items: matches.min(COUNT_CAP),
                    exact: matches <= COUNT_CAP,
                }
            })
    };
    count.map_err(|error| ApiError::internal(&error))
}

/// A score as `GET /scores/{id}` reads it.
type StoredScore = (Value, i64, Option<DateTime<Utc>>, Option<DateTime<Utc>>);

#[utoipa::path(
    get, path = "/api/v1/scores/{id}", tag = "scores",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The score")),
    responses(
        (status = 200, description = "The score; `ETag` is its version", body = ScoreView),
        Authenticated,
        (status = 404, description = "No such score of the caller (E003)", body = Problem, content_type = "application/problem+json"),
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
    let row: Option<StoredScore> = match &state.database {
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
    let (score, version, created_at, updated_at) = row.ok_or_else(ApiError::not_found)?;
    let view = view(score, version, created_at, updated_at)?;
    Ok(crate::http::etag::with_etag(
        warp::reply::json(&view).into_response(),
        view.version,
    ))
}

/// The caller's oldest live score holding the bytes whose SHA-256 is `sha256`.
pub async fn live_score_with_hash(
    database: &Database,
    owner: &str,
    sha256: &str,
) -> Result<Option<String>, ApiError> {
    let query = "SELECT id FROM scores WHERE owner_id = $1 AND sha256 = $2 \
                 AND lifecycle = 'confirmed' ORDER BY created_at, id LIMIT 1";
    match database {
        Database::Sqlite(pool) => {
            sqlx::query_scalar(query)
                .bind(owner)
                .bind(sha256)
                .fetch_optional(pool)
                .await
        }
        Database::Postgres(pool) => {
            sqlx::query_scalar(query)
                .bind(owner)
                .bind(sha256)
                .fetch_optional(pool)
                .await
        }
    }
    .map_err(|error| ApiError::internal(&error))
}

/// A `scores` row with its hash: `StoredScore` after the hash.
type HashedScore = (
    String,
    Value,
    i64,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

/// At most this many groups per answer (the oldest first): a library is not expected to
/// hold more sets of copies than a person can tidy in one go.
pub const MAX_DUPLICATE_GROUPS: i64 = 100;

/// Scores of one owner holding the same bytes.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DuplicateGroup {
    pub sha256: String,
    /// Oldest first.
    pub scores: Vec<ScoreView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Duplicates {
    /// Ordered by each group's oldest score.
    pub groups: Vec<DuplicateGroup>,
}

#[utoipa::path(
    get, path = "/api/v1/scores/duplicates", tag = "scores",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's live scores grouped by equal SHA-256, groups of two or more, at most 100 groups (the oldest first)", body = Duplicates),
        Authenticated,
    )
)]
pub async fn list_duplicates(
    state: AppState,
    principal: Principal,
) -> Result<warp::reply::Response, ApiError> {
    let query = "SELECT sha256, state, version, created_at, updated_at FROM scores \
                 WHERE owner_id = $1 AND lifecycle = 'confirmed' AND sha256 IN ( \
                   SELECT sha256 FROM scores \
                    WHERE owner_id = $1 AND lifecycle = 'confirmed' AND sha256 IS NOT NULL \
                    GROUP BY sha256 HAVING count(*) > 1 \
                    ORDER BY min(created_at), sha256 LIMIT $2) \
                 ORDER BY sha256, created_at, id";
    let owner = principal.user_id.to_string();
    let rows: Vec<HashedScore> = match &state.database {
        Database::Sqlite(pool) => {
            sqlx::query_as(query)
                .bind(&owner)
                .bind(MAX_DUPLICATE_GROUPS)
                .fetch_all(pool)
                .await
        }
        Database::Postgres(pool) => {
            sqlx::query_as(query)
                .bind(&owner)
                .bind(MAX_DUPLICATE_GROUPS)
                .fetch_all(pool)
                .await
        }
    }
    .map_err(|error| ApiError::internal(&error))?;
    let mut groups: Vec<DuplicateGroup> = Vec::new();
    for (sha256, score, version, created_at, updated_at) in rows {
        let view = view(score, version, created_at, updated_at)?;
        match groups.last_mut() {
            Some(group) if group.sha256 == sha256 => group.scores.push(view),
            _ => groups.push(DuplicateGroup {
                sha256,
                scores: vec![view],
            }),
        }
    }
    groups.sort_by(|a, b| {
        let oldest = |group: &DuplicateGroup| group.scores.first().map(|view| view.created_at);
        oldest(a)
            .cmp(&oldest(b))
            .then_with(|| a.sha256.cmp(&b.sha256))
    });
    Ok(warp::reply::json(&Duplicates { groups }).into_response())
}
