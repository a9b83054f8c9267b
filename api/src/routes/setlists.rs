//! Setlists: `POST/GET /api/v1/setlists`, `GET/PATCH/DELETE /api/v1/setlists/{id}`, items
//! added, removed and reordered. Commands go to the Setlist aggregate; reads come from the
//! `setlists` read model, joined with the live scores so that a deleted score disappears
//! from every setlist at once (its removal events follow from a processor).

use std::collections::HashMap;

use aggregates::setlist::details_errors;
use aggregates::{
    ScoreId, ScoreStatus, Setlist, SetlistCommand, SetlistId, SetlistItemId, UploadId,
};
use chrono::{DateTime, NaiveDate, Utc};
use eventstore::Committed;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use warp::http::{Method, StatusCode};
use warp::{Filter, Rejection, Reply};

use crate::auth::{Principal, authenticated};
use crate::error::{ApiError, Problem};
use crate::extract::{Fields, json_body};
use crate::pagination::{Count, Page, PageQuery, Paginated, Position};
use crate::routes::auth::into_reply;
use crate::routes::uploads::metadata_of;
use crate::routing::{PathParams, endpoint};
use crate::sql::{Args, KeyColumn, KeyKind, contains_pattern};
use crate::startup::AppState;
use crate::versioning::{parse_if_match, with_etag};

/// The score an item stands for, as a setlist shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScoreSummary {
    pub id: Uuid,
    pub title: String,
    pub composer: Option<String>,
    /// Known once the PDF has been processed.
    pub page_count: Option<u64>,
    /// `{width, height}` once the thumbnail exists.
    #[schema(value_type = Option<Object>)]
    pub thumbnail: Option<Value>,
}

/// One entry of a setlist.
#[derive(Debug, Serialize, ToSchema)]
pub struct SetlistItemView {
    pub id: Uuid,
    /// 0-based place in the list.
    pub position: usize,
    pub score_id: Uuid,
    pub note: Option<String>,
    pub score: ScoreSummary,
}

/// A setlist in a list (without its items).
#[derive(Debug, Serialize, ToSchema)]
pub struct SetlistSummary {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub event_date: Option<NaiveDate>,
    pub item_count: usize,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The aggregate version (also the `ETag`).
    pub version: usize,
}

/// A setlist with its items in order.
#[derive(Debug, Serialize, ToSchema)]
pub struct SetlistView {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub event_date: Option<NaiveDate>,
    pub item_count: usize,
    pub items: Vec<SetlistItemView>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The aggregate version (also the `ETag`).
    pub version: usize,
}

#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)] // documents the request body; the handler reads fields one by one
pub struct SetlistRequest {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00]*[^\\s\\x00][^\\x00]*$"
    )]
    name: String,
    #[schema(max_length = 2000)]
    description: Option<String>,
    /// `YYYY-MM-DD`.
    #[schema(format = Date, pattern = "^(?:[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)$")]
    event_date: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct SetlistPatch {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00]*[^\\s\\x00][^\\x00]*$",
        nullable = false
    )]
    name: Option<String>,
    /// `null` clears it.
    #[schema(max_length = 2000)]
    description: Option<String>,
    /// `YYYY-MM-DD`; `null` clears it.
    #[schema(format = Date, pattern = "^(?:[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)$")]
    event_date: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct AddItemRequest {
    /// One of the caller's live scores.
    score_id: Uuid,
    /// 0-based; inserts there and shifts the rest (default: append).
    #[schema(maximum = 100_000)]
    position: Option<u32>,
    #[schema(max_length = 500)]
    note: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct ReorderRequest {
    /// Every item of the setlist, once each, in the new order.
    item_ids: Vec<Uuid>,
}

/// Filters and ordering of `GET /setlists`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, IntoParams)]
pub struct SetlistQuery {
    /// Case-insensitive substring of the name.
    pub search: Option<String>,
    /// `name`, `created_at`, `updated_at` or `event_date`, `-` for descending (default
    /// `-updated_at`).
    pub ordering: Option<String>,
}

/// Absent → `None`; `null` → `Some(None)`; a value → `Some(Some(_))`.
fn tri_state<T>(
    fields: &mut Fields,
    field: &str,
    message: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Option<Option<T>> {
    match fields.take(field) {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(text)) => match parse(&text) {
            Some(value) => Some(Some(value)),
            None => {
                fields.error(field, message);
                None
            }
        },
        Some(_) => {
            fields.error(field, message);
            None
        }
    }
}

const DATE_MESSAGE: &str = "Must be a date as YYYY-MM-DD.";

fn parse_date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

fn parse_setlist_id(params: &PathParams, index: usize) -> Result<SetlistId, ApiError> {
    params.get(index).parse().map_err(|_| ApiError::not_found())
}

fn expected_version(if_match: Option<&str>) -> Result<Option<usize>, ApiError> {
    if_match
        .map(parse_if_match)
        .transpose()
        .map(Option::flatten)
}

/// Runs a setlist command, conditional on `If-Match` when given.
async fn run(
    state: &AppState,
    principal: &Principal,
    setlist_id: SetlistId,
    if_match: Option<&str>,
    command: SetlistCommand,
) -> Result<Committed<Setlist>, ApiError> {
    let metadata = metadata_of(principal);
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

type SetlistRow = (Value, i64, DateTime<Utc>, DateTime<Utc>);

/// The caller's setlist as the read model has it, items joined with the live scores.
async fn load_view(
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

/// Builds the view of `setlist`, leaving out items whose score is no longer live.
async fn view_of(
    state: &AppState,
    owner: &str,
    setlist: &Setlist,
    version: usize,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
) -> Result<SetlistView, ApiError> {
    let mut summaries = HashMap::new();
    let score_ids: Vec<String> = setlist
        .items()
        .iter()
        .map(|item| item.score_id.to_string())
        .collect();
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
            summaries.insert(id, (title, composer, page_count, thumbnail));
        }
    }
    let items: Vec<SetlistItemView> = setlist
        .items()
        .iter()
        .filter_map(|item| {
            let (title, composer, page_count, thumbnail) =
                summaries.get(&item.score_id.to_string())?;
            Some((item, title, composer, page_count, thumbnail))
        })
        .enumerate()
        .map(
            |(position, (item, title, composer, page_count, thumbnail))| SetlistItemView {
                id: item.item_id.into_uuid(),
                position,
                score_id: item.score_id.into_uuid(),
                note: item.note.clone(),
                score: ScoreSummary {
                    id: item.score_id.into_uuid(),
                    title: title.clone(),
                    composer: composer.clone(),
                    page_count: *page_count,
                    thumbnail: thumbnail.clone(),
                },
            },
        )
        .collect();
    Ok(SetlistView {
        id: setlist
            .setlist_id()
            .map(SetlistId::into_uuid)
            .unwrap_or_default(),
        name: setlist.name().to_owned(),
        description: setlist.description().map(str::to_owned),
        event_date: setlist.event_date(),
        item_count: items.len(),
        items,
        created_at,
        updated_at,
        version,
    })
}

/// The ids of the items a reader sees: those whose score is still live.
async fn visible_item_ids(
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

/// Translates a position among the visible items into one among all the setlist's items
/// (which may still hold items of a just-deleted score, awaiting their removal event).
fn position_among_all(
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
async fn answer_setlist(
    state: &AppState,
    principal: &Principal,
    setlist_id: SetlistId,
    change: &Committed<Setlist>,
    status: StatusCode,
) -> Result<warp::reply::Response, ApiError> {
    let setlist = &change.aggregate;
    let caught_up =
        crate::consistency::caught_up(state, &state.services.setlists_view, change).await;
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
    Ok(crate::consistency::mark_lagging(response, caught_up))
}

pub fn routes(state: AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let with_state = warp::any().map({
        let state = state.clone();
        move || state.clone()
    });
    let auth = authenticated(state.clone());
    let create = crate::idempotency::post(state, "/api/v1/setlists", create_setlist);
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
        .and(warp::header::optional::<String>("if-match"))
        .and(json_body())
        .then(|params, state, principal, if_match, body| {
            patch_setlist(state, principal, params, if_match, body)
        })
        .map(into_reply);
    let delete = endpoint(Method::DELETE, "/api/v1/setlists/{id}")
        .and(with_state.clone())
        .and(auth.clone())
        .and(warp::header::optional::<String>("if-match"))
        .then(|params, state, principal, if_match| {
            delete_setlist(state, principal, params, if_match)
        })
        .map(into_reply);
    let add = endpoint(Method::POST, "/api/v1/setlists/{id}/items")
        .and(with_state.clone())
        .and(auth.clone())
        .and(warp::header::optional::<String>("if-match"))
        .and(warp::header::optional::<String>("idempotency-key"))
        .and(json_body())
        .then(
            |params: PathParams,
             state: AppState,
             principal: Principal,
             if_match: Option<String>,
             key: Option<String>,
             body: Map<String, Value>| async move {
                let key = crate::idempotency::parse_key(key)?;
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
                crate::idempotency::once(
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
        .and(warp::header::optional::<String>("if-match"))
        .then(|params, state, principal, if_match| remove_item(state, principal, params, if_match))
        .map(into_reply);
    let reorder = endpoint(Method::PUT, "/api/v1/setlists/{id}/items/order")
        .and(with_state)
        .and(auth)
        .and(warp::header::optional::<String>("if-match"))
        .and(json_body())
        .then(|params, state, principal, if_match, body| {
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

#[utoipa::path(
    post, path = "/api/v1/setlists", tag = "setlists",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, description = "Retries with the same key and body get the first answer", pattern = "^[!-~]{1,200}$")),
    request_body = SetlistRequest,
    responses(
        (status = 201, description = "Created, empty", body = SetlistView),
        (status = 400, description = "Invalid fields (E007)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Invalid token (E002)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large (E007)", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON (E007)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Idempotency-Key reused with another body (E007)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Throttled (E010)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_setlist(
    state: AppState,
    principal: Principal,
    body: Map<String, Value>,
) -> Result<warp::reply::Response, ApiError> {
    let mut fields = Fields::new(body);
    let name = fields.required_string("name");
    let description = fields.optional_string("description");
    let event_date = tri_state(&mut fields, "event_date", DATE_MESSAGE, parse_date).flatten();
    fields.merge(details_errors(name.as_deref(), description.as_deref()));
    fields.finish()?;
    let name = name.unwrap_or_default();
    let setlist_id = SetlistId::from_uuid(Uuid::now_v7());
    let command = SetlistCommand::CreateSetlist {
        setlist_id,
        owner: principal.user_id,
        name,
        description,
        event_date,
    };
    // The id was minted just now: nothing to load.
    let change = state
        .services
        .setlists
        .execute_new(&setlist_id.to_string(), command, &metadata_of(&principal))
        .await?;
    answer_setlist(&state, &principal, setlist_id, &change, StatusCode::CREATED).await
}

/// The `ordering` values `GET /setlists` takes.
const SETLIST_ORDERINGS: [&str; 8] = [
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
fn setlist_ordering(ordering: Option<&str>) -> Result<(&'static str, Vec<KeyColumn>), ApiError> {
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
struct SummaryRow {
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

fn instant_text(instant: DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

#[utoipa::path(
    get, path = "/api/v1/setlists", tag = "setlists",
    security(("bearer" = [])),
    params(PageQuery, SetlistQuery),
    responses(
        (status = 200, description = "The caller's setlists", body = Paginated<SetlistSummary>),
        (status = 400, description = "Bad ordering, page or cursor (E007)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Invalid token (E002)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Page past the end (E003)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Throttled (E010)", body = Problem, content_type = "application/problem+json"),
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
            .ok_or_else(crate::pagination::refused_cursor)?;
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
        (status = 401, description = "Invalid token (E002)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such setlist of the caller (E003)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Throttled (E010)", body = Problem, content_type = "application/problem+json"),
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

#[utoipa::path(
    patch, path = "/api/v1/setlists/{id}", tag = "setlists",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "The setlist"),
        ("If-Match" = Option<String>, Header, nullable = false, description = "The version (ETag) the change is based on: \"3\", W/\"3\", 3 or *", pattern = "^(\\*|(W/)?\"?[0-9]{1,18}\"?)$"),
    ),
    request_body = SetlistPatch,
    responses(
        (status = 200, description = "Changed (absent fields stay, `null` clears)", body = SetlistView),
        (status = 400, description = "Invalid fields (E007)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Invalid token (E002)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such setlist of the caller (E003)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A concurrent change won (E008)", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match the current version (E011)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large (E007)", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON (E007)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Throttled (E010)", body = Problem, content_type = "application/problem+json"),
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
    let mut fields = Fields::new(body);
    let name = match fields.take("name") {
        None => None,
        Some(Value::String(name)) => Some(name),
        Some(_) => {
            fields.error("name", "Must be a string.");
            None
        }
    };
    let description = tri_state(
        &mut fields,
        "description",
        "Must be a string or null.",
        |text| Some(text.to_owned()),
    );
    let event_date = tri_state(&mut fields, "event_date", DATE_MESSAGE, parse_date);
    fields.merge(details_errors(
        name.as_deref(),
        description.clone().flatten().as_deref(),
    ));
    fields.finish()?;
    let command = SetlistCommand::UpdateSetlistDetails {
        user_id: principal.user_id,
        name,
        description,
        event_date,
    };
    let change = run(&state, &principal, setlist_id, if_match.as_deref(), command).await?;
    answer_setlist(&state, &principal, setlist_id, &change, StatusCode::OK).await
}

#[utoipa::path(
    delete, path = "/api/v1/setlists/{id}", tag = "setlists",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "The setlist"),
        ("If-Match" = Option<String>, Header, nullable = false, description = "The version (ETag) the change is based on: \"3\", W/\"3\", 3 or *", pattern = "^(\\*|(W/)?\"?[0-9]{1,18}\"?)$"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Malformed If-Match (E007)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Invalid token (E002)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such setlist of the caller (E003)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A concurrent change won (E008)", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match the current version (E011)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Throttled (E010)", body = Problem, content_type = "application/problem+json"),
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
    Ok(crate::consistency::after_setlist_change(
        &state,
        &change,
        StatusCode::NO_CONTENT.into_response(),
    )
    .await)
}

#[utoipa::path(
    post, path = "/api/v1/setlists/{id}/items", tag = "setlists",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "The setlist"),
        ("If-Match" = Option<String>, Header, nullable = false, description = "The version (ETag) the change is based on: \"3\", W/\"3\", 3 or *", pattern = "^(\\*|(W/)?\"?[0-9]{1,18}\"?)$"),
        ("Idempotency-Key" = Option<String>, Header, nullable = false, description = "Retries with the same key and body get the first answer", pattern = "^[!-~]{1,200}$"),
    ),
    request_body = AddItemRequest,
    responses(
        (status = 201, description = "The new item", body = SetlistItemView),
        (status = 400, description = "Invalid fields or position past the end (E007)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Invalid token (E002)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such setlist, or no such live score of the caller (E003)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A concurrent change won (E008)", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match the current version (E011)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large (E007)", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON (E007)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Idempotency-Key reused with another body (E007)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Throttled (E010)", body = Problem, content_type = "application/problem+json"),
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
    let mut fields = Fields::new(body);
    let score_id = match fields.take("score_id") {
        Some(Value::String(text)) => text.parse::<ScoreId>().ok().or_else(|| {
            fields.error("score_id", "Must be a score id.");
            None
        }),
        None | Some(Value::Null) => {
            fields.error("score_id", "This field is required.");
            None
        }
        Some(_) => {
            fields.error("score_id", "Must be a score id.");
            None
        }
    };
    let position = fields
        .optional_u64("position", 100_000)
        .and_then(|position| usize::try_from(position).ok());
    let note = fields.optional_string("note");
    if note
        .as_deref()
        .is_some_and(|note| note.chars().count() > aggregates::setlist::MAX_NOTE_CHARS)
    {
        fields.error(
            "note",
            format!(
                "At most {} characters.",
                aggregates::setlist::MAX_NOTE_CHARS
            ),
        );
    }
    fields.finish()?;
    let Some(score_id) = score_id else {
        return Err(ApiError::invalid_field(
            "score_id",
            "This field is required.",
        ));
    };
    // Only the caller's own, live scores may be added; others do not exist for them.
    let score = state
        .services
        .scores
        .load(&UploadId::from_uuid(score_id.into_uuid()).to_string())
        .await?;
    if !score.aggregate.is_owned_by(principal.user_id)
        || score.aggregate.status() != Some(ScoreStatus::Confirmed)
    {
        return Err(ApiError::not_found());
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
        position,
        note,
    };
    let change = run(&state, &principal, setlist_id, if_match.as_deref(), command).await?;
    let caught_up =
        crate::consistency::caught_up(&state, &state.services.setlists_view, &change).await;
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
    Ok(crate::consistency::mark_lagging(
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
        ("If-Match" = Option<String>, Header, nullable = false, description = "The version (ETag) the change is based on: \"3\", W/\"3\", 3 or *", pattern = "^(\\*|(W/)?\"?[0-9]{1,18}\"?)$"),
    ),
    responses(
        (status = 204, description = "Removed; later items moved up"),
        (status = 400, description = "Malformed If-Match (E007)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Invalid token (E002)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such setlist or item of the caller (E003)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A concurrent change won (E008)", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match the current version (E011)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Throttled (E010)", body = Problem, content_type = "application/problem+json"),
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
    Ok(crate::consistency::after_setlist_change(
        &state,
        &change,
        StatusCode::NO_CONTENT.into_response(),
    )
    .await)
}

#[utoipa::path(
    put, path = "/api/v1/setlists/{id}/items/order", tag = "setlists",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "The setlist"),
        ("If-Match" = Option<String>, Header, nullable = false, description = "The version (ETag) the change is based on: \"3\", W/\"3\", 3 or *", pattern = "^(\\*|(W/)?\"?[0-9]{1,18}\"?)$"),
    ),
    request_body = ReorderRequest,
    responses(
        (status = 200, description = "The setlist in its new order", body = SetlistView),
        (status = 400, description = "Not a permutation of the current items, or invalid fields (E007)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Invalid token (E002)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such setlist of the caller (E003)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A concurrent change won (E008)", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match the current version (E011)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large (E007)", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON (E007)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Throttled (E010)", body = Problem, content_type = "application/problem+json"),
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
    let mut fields = Fields::new(body);
    let item_ids = match fields.take("item_ids") {
        Some(Value::Array(values)) => {
            let parsed: Option<Vec<SetlistItemId>> = values
                .iter()
                .map(|value| value.as_str().and_then(|text| text.parse().ok()))
                .collect();
            parsed.or_else(|| {
                fields.error("item_ids", "Must be a list of item ids.");
                None
            })
        }
        None | Some(Value::Null) => {
            fields.error("item_ids", "This field is required.");
            None
        }
        Some(_) => {
            fields.error("item_ids", "Must be a list of item ids.");
            None
        }
    };
    fields.finish()?;
    let Some(mut item_ids) = item_ids else {
        return Err(ApiError::invalid_field(
            "item_ids",
            "This field is required.",
        ));
    };
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

    #[test]
    fn positions_among_visible_items_skip_the_hidden_ones() {
        use cqrs_es::Aggregate;
        let item = |n: u128| SetlistItemId::from_uuid(Uuid::from_u128(n));
        let mut setlist = Setlist::default();
        for n in 1..=3 {
            setlist.apply(aggregates::SetlistEvent::SetlistItemAdded {
                item_id: item(n),
                score_id: ScoreId::from_uuid(Uuid::from_u128(100 + n)),
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

    #[test]
    fn the_documented_date_pattern_agrees_with_the_parser() {
        let documented = regex::Regex::new(r"^(?:[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)$").unwrap_or_else(|error| panic!("{error}"));
        let pattern = |date: &str| documented.is_match(date);
        for date in [
            "2026-12-31",
            "2024-02-29",
            "2000-02-29",
            "0000-02-29",
            "2026-04-30",
        ] {
            assert!(parse_date(date).is_some() && pattern(date), "{date}");
        }
        for date in [
            "2026-02-29",
            "1900-02-29",
            "2026-04-31",
            "2026-13-01",
            "2026-00-10",
            "",
        ] {
            assert!(parse_date(date).is_none() && !pattern(date), "{date}");
        }
    }

    #[test]
    fn dates_are_calendar_days_only() {
        assert_eq!(
            parse_date("2026-12-24"),
            NaiveDate::from_ymd_opt(2026, 12, 24)
        );
        assert_eq!(parse_date("2026-02-30"), None);
        assert_eq!(parse_date("24.12.2026"), None);
        assert_eq!(parse_date("2026-12-24T20:00:00Z"), None);
    }

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
