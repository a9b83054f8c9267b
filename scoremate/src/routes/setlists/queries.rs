//! Reading setlists: the list (filters, orderings, keyset pages) and one setlist, from
//! the `setlists` read model joined with the live scores.

use std::collections::HashMap;

use aggregates::{Bookmark, BookmarkId, Score, Setlist, SetlistId, SetlistItem, SetlistItemId};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::IntoParams;
use warp::Reply;

use super::views::{BookmarkSummary, ScoreSummary, SetlistItemView, SetlistSummary, SetlistView};
use crate::http::authenticate::Principal;
use crate::http::endpoint::PathParams;
use crate::http::error::{ApiError, Problem};
use crate::http::etag::with_etag;
use crate::http::openapi::{Authenticated, PagePastEnd};
use crate::http::pagination::{Count, Page, PageQuery, Paginated, Position};
use crate::sql::{Args, KeyColumn, KeyKind, contains_pattern};
use crate::state::AppState;

/// Filters and ordering of `GET /setlists`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, IntoParams)]
pub struct SetlistQuery {
    /// Case-insensitive substring of the name.
    pub search: Option<String>,
    /// `name`, `created_at`, `updated_at` or `event_date`, `-` for descending (default
    /// `-updated_at`).
    pub ordering: Option<String>,
}

pub(super) fn parse_setlist_id(params: &PathParams, index: usize) -> Result<SetlistId, ApiError> {
    params.get(index).parse().map_err(|_| ApiError::not_found())
}

type SetlistRow = (Value, i64, DateTime<Utc>, DateTime<Utc>);

/// The caller's setlist as the read model has it, items joined with the live scores.
pub(super) async fn load_view(
    state: &AppState,
    owner: &str,
    setlist_id: SetlistId,
) -> Result<Option<SetlistView>, ApiError> {
    let mut args = Args::new();
    let sql = format!(
        "SELECT state, version, created_at, updated_at FROM setlists WHERE id = {} AND owner_id = {}",
        args.text(setlist_id.to_string()),
        args.text(owner)
    );
    let rows: Vec<SetlistRow> = crate::sql::fetch_all(&state.database, &sql, &args)
        .await
        .map_err(|error| ApiError::internal(&error))?;
    let Some((setlist, version, created_at, updated_at)) = rows.into_iter().next() else {
        return Ok(None);
    };
    let setlist: Setlist =
        serde_json::from_value(setlist).map_err(|error| ApiError::internal(&error))?;
    let version = usize::try_from(version).unwrap_or_default();
    view_of(state, owner, &setlist, version, created_at, updated_at)
        .await
        .map(Some)
}

type ScoreSummaryRow = (String, String, Option<String>, Option<Value>, Option<Value>);

/// What a setlist shows of one of its scores.
struct Summary {
    title: String,
    composer: Option<String>,
    page_count: Option<u64>,
    thumbnail: Option<Value>,
}

/// The caller's live scores among `score_ids`, by id.
async fn summaries(
    state: &AppState,
    owner: &str,
    score_ids: &[String],
) -> Result<HashMap<String, Summary>, ApiError> {
    let mut summaries = HashMap::new();
    // Bounded batches keep the statement within every backend's argument limit.
    for chunk in score_ids.chunks(500) {
        let mut args = Args::new();
        let owner_arg = args.text(owner);
        let placeholders: Vec<String> = chunk.iter().map(|id| args.text(id.clone())).collect();
        let sql = format!(
            "SELECT id, title, composer, pdf, thumbnail FROM scores \
             WHERE owner_id = {owner_arg} AND lifecycle = 'confirmed' AND id IN ({})",
            placeholders.join(", ")
        );
        let rows: Vec<ScoreSummaryRow> = crate::sql::fetch_all(&state.database, &sql, &args)
            .await
            .map_err(|error| ApiError::internal(&error))?;
        for (id, title, composer, pdf, thumbnail) in rows {
            let page_count = pdf
                .as_ref()
                .and_then(|pdf| pdf.get("page_count"))
                .and_then(Value::as_u64);
            summaries.insert(
                id,
                Summary {
                    title,
                    composer,
                    page_count,
                    thumbnail,
                },
            );
        }
    }
    Ok(summaries)
}

/// The bookmarks of the caller's live scores among `score_ids`, by score and bookmark.
async fn bookmarks_of(
    state: &AppState,
    owner: &str,
    score_ids: &[String],
) -> Result<HashMap<(String, BookmarkId), Bookmark>, ApiError> {
    let mut bookmarks = HashMap::new();
    for chunk in score_ids.chunks(500) {
        let mut args = Args::new();
        let owner_arg = args.text(owner);
        let placeholders: Vec<String> = chunk.iter().map(|id| args.text(id.clone())).collect();
        let sql = format!(
            "SELECT id, state FROM scores \
             WHERE owner_id = {owner_arg} AND lifecycle = 'confirmed' AND id IN ({})",
            placeholders.join(", ")
        );
        let rows: Vec<(String, Value)> = crate::sql::fetch_all(&state.database, &sql, &args)
            .await
            .map_err(|error| ApiError::internal(&error))?;
        for (id, score) in rows {
            let score: Score =
                serde_json::from_value(score).map_err(|error| ApiError::internal(&error))?;
            for (bookmark_id, bookmark) in score.bookmarks() {
                bookmarks.insert((id.clone(), *bookmark_id), bookmark.clone());
            }
        }
    }
    Ok(bookmarks)
}

/// How `item` shows, or `None` while it is hidden: its score is no longer live, or its
/// bookmark is gone (the cleanup will record the removal).
fn item_view(
    item: &SetlistItem,
    position: usize,
    summaries: &HashMap<String, Summary>,
    bookmarks: &HashMap<(String, BookmarkId), Bookmark>,
) -> Option<SetlistItemView> {
    let score_id = item.score_id.to_string();
    let summary = summaries.get(&score_id)?;
    let bookmark = match item.bookmark_id {
        Some(bookmark_id) => Some((bookmark_id, bookmarks.get(&(score_id, bookmark_id))?)),
        None => None,
    };
    let page_count = summary
        .page_count
        .map(|count| u32::try_from(count).unwrap_or(u32::MAX));
    // A page sequence decides what is played (of the bookmark's piece, when both).
    let (first_page, fits) = match (&item.pages, &bookmark) {
        (Some(pages), _) => (
            pages.first().copied().unwrap_or(1),
            page_count.map(|count| pages.iter().all(|page| *page <= count)),
        ),
        (None, Some((_, bookmark))) => (
            bookmark.start_page,
            page_count.map(|count| bookmark.fits(count)),
        ),
        (None, None) => (1, page_count.map(|_| true)),
    };
    Some(SetlistItemView {
        id: item.item_id.into_uuid(),
        position,
        score_id: item.score_id.into_uuid(),
        title: bookmark
            .map_or(&summary.title, |(_, bookmark)| &bookmark.title)
            .clone(),
        bookmark_id: item.bookmark_id.map(BookmarkId::into_uuid),
        bookmark: bookmark.map(|(id, bookmark)| BookmarkSummary::of(id, bookmark)),
        pages: item.pages.clone(),
        first_page,
        fits,
        note: item.note.clone(),
        score: ScoreSummary {
            id: item.score_id.into_uuid(),
            title: summary.title.clone(),
            composer: summary.composer.clone(),
            page_count: summary.page_count,
            thumbnail: summary.thumbnail.clone(),
        },
    })
}

/// Builds the view of `setlist`, leaving out items whose score is no longer live or whose
/// bookmark is gone.
pub(super) async fn view_of(
    state: &AppState,
    owner: &str,
    setlist: &Setlist,
    version: usize,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
) -> Result<SetlistView, ApiError> {
    let distinct = |items: &mut dyn Iterator<Item = &SetlistItem>| -> Vec<String> {
        let ids: std::collections::BTreeSet<String> =
            items.map(|item| item.score_id.to_string()).collect();
        ids.into_iter().collect()
    };
    let score_ids = distinct(&mut setlist.items().iter());
    let summaries = summaries(state, owner, &score_ids).await?;
    // Working copies are read only for the scores whose bookmarks are played.
    let songbooks = distinct(
        &mut setlist
            .items()
            .iter()
            .filter(|item| item.bookmark_id.is_some()),
    );
    let bookmarks = if songbooks.is_empty() {
        HashMap::new()
    } else {
        bookmarks_of(state, owner, &songbooks).await?
    };
    let items: Vec<SetlistItemView> = setlist
        .items()
        .iter()
        .filter_map(|item| item_view(item, 0, &summaries, &bookmarks))
        .enumerate()
        .map(|(position, item)| SetlistItemView { position, ..item })
        .collect();
    Ok(SetlistView {
        id: setlist
            .setlist_id()
            .map(SetlistId::into_uuid)
            .unwrap_or_default(),
        name: setlist.name().to_owned(),
        description: setlist.description().map(str::to_owned),
        event_date: setlist.event_date(),
        notes: setlist.notes().map(str::to_owned),
        item_count: items.len(),
        items,
        created_at,
        updated_at,
        version,
    })
}

/// The ids of the items a reader sees: those whose score is still live.
pub(super) async fn visible_item_ids(
    state: &AppState,
    principal: &Principal,
    setlist: &Setlist,
) -> Result<std::collections::HashSet<SetlistItemId>, ApiError> {
    let now = Utc::now();
    let view = view_of(state, &principal.user_id.to_string(), setlist, 0, now, now).await?;
    Ok(view
        .items
        .iter()
        .map(|item| SetlistItemId::from_uuid(item.id))
        .collect())
}

/// The `ordering` values `GET /setlists` takes.
pub(super) const SETLIST_ORDERINGS: [&str; 8] = [
    "name",
    "-name",
    "created_at",
    "-created_at",
    "updated_at",
    "-updated_at",
    "event_date",
    "-event_date",
];

/// The orderings of `GET /setlists`, each with the columns a cursor resumes it by.
pub(super) fn setlist_ordering(
    ordering: Option<&str>,
) -> Result<(&'static str, Vec<KeyColumn>), ApiError> {
    // Setlists without a date come last either way, on both backends.
    const UNDATED: &str = "CASE WHEN event_date IS NULL THEN 1 ELSE 0 END";
    let asked = ordering.unwrap_or("-updated_at");
    let name = SETLIST_ORDERINGS
        .into_iter()
        .find(|name| *name == asked)
        .unwrap_or_default();
    let descending = name.starts_with('-');
    let id = KeyColumn::new("id", descending, KeyKind::Text);
    let columns = match name.trim_start_matches('-') {
        "name" => vec![KeyColumn::new("name_folded", descending, KeyKind::Text), id],
        "created_at" => vec![KeyColumn::new("created_at", descending, KeyKind::Time), id],
        "updated_at" => vec![KeyColumn::new("updated_at", descending, KeyKind::Time), id],
        "event_date" => vec![
            KeyColumn::new(UNDATED, false, KeyKind::Int),
            KeyColumn::new("event_date", descending, KeyKind::Date),
            id,
        ],
        _ => {
            return Err(ApiError::invalid_field(
                "ordering",
                "One of name, created_at, updated_at, event_date, each optionally with a leading -.",
            ));
        }
    };
    Ok((name, columns))
}

#[derive(sqlx::FromRow)]
pub(super) struct SummaryRow {
    id: String,
    name: String,
    name_folded: String,
    description: Option<String>,
    event_date: Option<NaiveDate>,
    item_count: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    version: i64,
}

impl SummaryRow {
    /// The row's values of `columns`, as a cursor holds them.
    fn key(&self, columns: &[KeyColumn]) -> Vec<Value> {
        columns
            .iter()
            .map(|column| match column.expression {
                "id" => Value::from(self.id.as_str()),
                "name_folded" => Value::from(self.name_folded.as_str()),
                "created_at" => Value::from(instant_text(self.created_at)),
                "updated_at" => Value::from(instant_text(self.updated_at)),
                "event_date" => self
                    .event_date
                    .map_or(Value::Null, |date| Value::from(date.to_string())),
                _ => Value::from(i64::from(self.event_date.is_none())),
            })
            .collect()
    }

    fn summary(self) -> SetlistSummary {
        SetlistSummary {
            id: self.id.parse().unwrap_or_default(),
            name: self.name,
            description: self.description,
            event_date: self.event_date,
            item_count: usize::try_from(self.item_count).unwrap_or_default(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            version: usize::try_from(self.version).unwrap_or_default(),
        }
    }
}

pub(super) fn instant_text(instant: DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

#[utoipa::path(
    get, path = "/api/v1/setlists", tag = "setlists",
    security(("bearer" = [])),
    params(PageQuery, SetlistQuery),
    responses(
        (status = 200, description = "The caller's setlists", body = Paginated<SetlistSummary>),
        (status = 400, description = "Bad ordering, page or cursor (E007)", body = Problem, content_type = "application/problem+json"),
        Authenticated,
        PagePastEnd,
    )
)]
pub async fn list_setlists(
    state: AppState,
    principal: Principal,
    page: PageQuery,
    query: SetlistQuery,
) -> Result<warp::reply::Response, ApiError> {
    let page = Page::from_query(&page, &state.public_url, "/api/v1/setlists")?.keeping(&query);
    let (ordering, columns) = setlist_ordering(query.ordering.as_deref())?;
    let position = page.position(ordering)?;
    let mut args = Args::new();
    let mut where_sql = format!("owner_id = {}", args.text(principal.user_id.to_string()));
    if let Some(search) = query.search.as_deref().filter(|search| !search.is_empty()) {
        let n = args.text(contains_pattern(search));
        where_sql.push_str(&format!(" AND name_folded LIKE {n} ESCAPE '\\'"));
    }
    let count = crate::sql::fetch_count(
        &state.database,
        &format!("SELECT count(*) FROM setlists WHERE {where_sql}"),
        &args,
    )
    .await
    .map_err(|error| ApiError::internal(&error))?;
    let backwards = matches!(position, Position::Before(_));
    if let Position::After(key) | Position::Before(key) = &position {
        let beyond = crate::sql::beyond(&columns, key, backwards, &mut args)
            .ok_or_else(crate::http::pagination::refused_cursor)?;
        where_sql.push_str(&format!(" AND {beyond}"));
    }
    let order = crate::sql::order_by(&columns, backwards);
    let limit = args.int(i64::try_from(page.size + 1).unwrap_or(101));
    let offset = match position {
        Position::Number(_) => args.int(i64::try_from(page.offset()).unwrap_or(i64::MAX)),
        Position::Start | Position::After(_) | Position::Before(_) => args.int(0),
    };
    // Items whose score is gone are not counted, as they are not shown.
    let rows: Vec<SummaryRow> = crate::sql::fetch_all(
        &state.database,
        &format!(
            "SELECT id, name, name_folded, description, event_date, \
             (SELECT count(*) FROM setlist_items i JOIN scores s \
               ON s.id = i.score_id AND s.lifecycle = 'confirmed' \
              WHERE i.setlist_id = setlists.id) AS item_count, \
             created_at, updated_at, version \
             FROM setlists WHERE {where_sql} ORDER BY {order} LIMIT {limit} OFFSET {offset}"
        ),
        &args,
    )
    .await
    .map_err(|error| ApiError::internal(&error))?;
    let results = rows
        .into_iter()
        .map(|row| {
            let key = row.key(&columns);
            (row.summary(), key)
        })
        .collect();
    let count = Count::exact(u64::try_from(count).unwrap_or_default());
    let body = page.wrap_keyed(ordering, &position, count, results)?;
    Ok(warp::reply::json(&body).into_response())
}

#[utoipa::path(
    get, path = "/api/v1/setlists/{id}", tag = "setlists",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The setlist")),
    responses(
        (status = 200, description = "The setlist and its items; `ETag` is its version", body = SetlistView),
        Authenticated,
        (status = 404, description = "No such setlist of the caller (E003)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_setlist(
    state: AppState,
    principal: Principal,
    params: PathParams,
) -> Result<warp::reply::Response, ApiError> {
    let setlist_id = parse_setlist_id(&params, 0)?;
    let view = load_view(&state, &principal.user_id.to_string(), setlist_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let version = view.version;
    Ok(with_etag(warp::reply::json(&view).into_response(), version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_ordering_has_a_stable_tie_break() {
        for ordering in SETLIST_ORDERINGS {
            let (name, columns) = setlist_ordering(Some(ordering)).unwrap_or_default();
            let order = crate::sql::order_by(&columns, false);
            assert_eq!(name, ordering);
            assert!(
                order.ends_with("id ASC") || order.ends_with("id DESC"),
                "{ordering}"
            );
        }
        assert!(setlist_ordering(Some("title")).is_err());
    }
}
