//! Reading one page of a user's changes from the read models. Each row the feed serves
//! keeps the log cursor of the last event folded into it (deletions leave tombstones), so
//! the changes after a token are, per read model, an index range of the owner's rows
//! between the token's cursor and that read model's checkpoint. The checkpoint only
//! passes events below the log's horizon, so a late-committing event is never skipped:
//! until it is applied, the checkpoint (and with it the token) stays before it.

use aggregates::{Score, Setlist};
use chrono::{DateTime, NaiveDate, Utc};
use eventstore::{Database, LogCursor};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::http::error::ApiError;
use crate::quota::QuotaView;
use crate::routes::scores::ScoreView;
use crate::routes::scores::bookmarks::BookmarkView;
use crate::sql::Args;
use crate::sync_token::SyncToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Score,
    Setlist,
    Quota,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeOp {
    /// The item as it is now (created or changed): replace the local copy.
    Upsert,
    /// The item is gone: drop the local copy.
    Delete,
}

/// One changed item, as it is now.
#[derive(Debug, Serialize, ToSchema)]
pub struct Change {
    pub kind: ChangeKind,
    pub op: ChangeOp,
    /// The score or setlist; for `quota`, the caller.
    pub id: Uuid,
    /// The item's version (its `ETag`; `If-Match` of an edit made offline).
    pub version: u64,
    /// For a score upserted: as `GET /scores/{id}` shows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<ScoreView>,
    /// For a score upserted: its bookmarks, as `GET /scores/{id}/bookmarks` lists them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bookmarks: Option<Vec<BookmarkView>>,
    /// For a setlist upserted: its items by score id (join them with the scores held).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub setlist: Option<SyncSetlist>,
    /// For `quota`: as `GET /quota` shows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota: Option<QuotaView>,
}

/// A setlist in the feed: the items name their scores, and a client shows those of them
/// whose score it holds (as `GET /setlists/{id}` shows only live scores).
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncSetlist {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub event_date: Option<NaiveDate>,
    pub notes: Option<String>,
    /// In order.
    pub items: Vec<SyncSetlistItem>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SyncSetlistItem {
    pub id: Uuid,
    pub score_id: Uuid,
    /// The bookmark of the score it plays. A client hides the item while the score it
    /// holds has no such bookmark, as `GET /setlists/{id}` does.
    pub bookmark_id: Option<Uuid>,
    /// The pages of the score it plays, in order.
    pub pages: Option<Vec<u32>>,
    pub note: Option<String>,
}

/// One page of changes and where the next one starts.
pub struct FeedPage {
    pub changes: Vec<Change>,
    pub next: SyncToken,
    pub has_more: bool,
}

/// Where a page starts: the whole library (no token; deletions left out, there is nothing
/// to delete yet), or after a token.
#[derive(Debug, Clone, Copy)]
pub enum Start {
    Snapshot,
    After(SyncToken),
}

/// The read models the feed serves, by their checkpoints.
#[derive(Debug, Clone, Copy)]
enum Stream {
    Scores,
    Setlists,
    Quota,
}

impl Stream {
    const ALL: [Self; 3] = [Self::Scores, Self::Setlists, Self::Quota];

    const fn checkpoint_key(self) -> &'static str {
        match self {
            Self::Scores => "scores",
            Self::Setlists => "setlists",
            Self::Quota => "quota_balances",
        }
    }

    fn of(self, token: &SyncToken) -> LogCursor {
        match self {
            Self::Scores => token.scores,
            Self::Setlists => token.setlists,
            Self::Quota => token.quota,
        }
    }

    fn set(self, token: &mut SyncToken, cursor: LogCursor) {
        match self {
            Self::Scores => token.scores = cursor,
            Self::Setlists => token.setlists = cursor,
            Self::Quota => token.quota = cursor,
        }
    }
}

/// A change with its place in the log.
struct Placed {
    cursor: LogCursor,
    stream: usize,
    change: Change,
}

type ScoreRow = (
    i64,
    i64,
    String,
    i64,
    Value,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);
type SetlistRow = (i64, i64, String, i64, Value, DateTime<Utc>, DateTime<Utc>);
type TombstoneRow = (i64, i64, String, i64);
type QuotaRow = (i64, i64, i64, i64, i64, i64);

/// One statement of a page: a read model's rows or its tombstones.
#[derive(Debug, Clone, Copy)]
enum Source {
    Scores,
    ScoreTombstones,
    Setlists,
    SetlistTombstones,
    Quota,
}

impl Source {
    /// Largest read model first: its rows bound the others' reads soonest.
    const ALL: [Self; 5] = [
        Self::Scores,
        Self::ScoreTombstones,
        Self::Setlists,
        Self::SetlistTombstones,
        Self::Quota,
    ];

    const fn stream(self) -> usize {
        match self {
            Self::Scores | Self::ScoreTombstones => 0,
            Self::Setlists | Self::SetlistTombstones => 1,
            Self::Quota => 2,
        }
    }

    const fn is_tombstones(self) -> bool {
        matches!(self, Self::ScoreTombstones | Self::SetlistTombstones)
    }

    /// Its rows in `range` as changes; answers how many rows it read.
    async fn read(
        self,
        database: &Database,
        range: &Range<'_>,
        placed: &mut Vec<Placed>,
    ) -> Result<usize, ApiError> {
        let internal = |error: sqlx::Error| ApiError::internal(&error);
        let stream = self.stream();
        Ok(match self {
            Self::Scores => {
                let rows = range.scores(database).await.map_err(internal)?;
                let read = rows.len();
                for row in rows {
                    placed.push(score_change(stream, row)?);
                }
                read
            }
            Self::Setlists => {
                let rows = range.setlists(database).await.map_err(internal)?;
                let read = rows.len();
                for row in rows {
                    placed.push(setlist_change(stream, row)?);
                }
                read
            }
            Self::ScoreTombstones | Self::SetlistTombstones => {
                let (table, kind) = match self {
                    Self::ScoreTombstones => ("score_tombstones", ChangeKind::Score),
                    _ => ("setlist_tombstones", ChangeKind::Setlist),
                };
                let rows = range.tombstones(database, table).await.map_err(internal)?;
                let read = rows.len();
                placed.extend(
                    rows.into_iter()
                        .filter_map(|row| tombstone(stream, kind, row)),
                );
                read
            }
            Self::Quota => {
                let rows = range.quota(database).await.map_err(internal)?;
                let read = rows.len();
                placed.extend(
                    rows.into_iter()
                        .filter_map(|row| quota_change(stream, range.owner, row)),
                );
                read
            }
        })
    }
}

/// The cursor of the `limit`th oldest change placed, once there are that many: nothing
/// after it can be on the page, so no later read need look beyond it.
fn page_end(placed: &[Placed], limit: usize) -> Option<LogCursor> {
    let nth = limit.checked_sub(1)?;
    let mut cursors: Vec<LogCursor> = placed.iter().map(|placed| placed.cursor).collect();
    if cursors.len() <= nth {
        return None;
    }
    Some(*cursors.select_nth_unstable(nth).1)
}

/// The page of `owner`'s changes from `start`, at most `limit` of them, oldest first.
pub async fn read_page(
    database: &Database,
    owner: &str,
    start: Start,
    limit: usize,
) -> Result<FeedPage, ApiError> {
    // The checkpoints first: every row at or before one is final as of now, whatever
    // commits while the rows are read (a row changed since has a later cursor and comes
    // on a later page).
    let bounds = checkpoints(database)
        .await
        .map_err(|error| ApiError::internal(&error))?;
    let (since, snapshot) = match start {
        Start::Snapshot => (SyncToken::default(), true),
        Start::After(token) => (token, false),
    };
    // One more than a page: a read that fills it may have left rows behind.
    let fetch = limit.saturating_add(1);
    let mut placed = Vec::new();
    // Per stream: whether its reads returned every row of their ranges, and how far the
    // narrowest of those ranges reached.
    let mut complete = [true; 3];
    let mut reached = bounds;
    for source in Source::ALL {
        if snapshot && source.is_tombstones() {
            continue;
        }
        let stream = source.stream();
        let until = page_end(&placed, limit).map_or(bounds[stream], |end| end.min(bounds[stream]));
        reached[stream] = reached[stream].min(until);
        let range = Range {
            owner,
            after: Stream::ALL[stream].of(&since),
            until,
            fetch: i64::try_from(fetch).unwrap_or(i64::MAX),
        };
        if range.until <= range.after {
            continue;
        }
        if source.read(database, &range, &mut placed).await? >= fetch {
            complete[stream] = false;
        }
    }
    placed.sort_by_key(|placed| placed.cursor);
    let mut next = since;
    let mut has_more = false;
    let taken: Vec<Placed> = if placed.len() > limit {
        placed.drain(..limit).collect()
    } else {
        std::mem::take(&mut placed)
    };
    for (index, stream) in Stream::ALL.into_iter().enumerate() {
        let left_behind = placed.iter().any(|rest| rest.stream == index);
        let last_taken = taken
            .iter()
            .rev()
            .find(|taken| taken.stream == index)
            .map(|taken| taken.cursor);
        if complete[index] && !left_behind {
            // Everything of this stream up to where its reads reached is on this page.
            stream.set(&mut next, stream.of(&since).max(reached[index]));
            has_more |= reached[index] < bounds[index];
        } else {
            has_more = true;
            if let Some(cursor) = last_taken {
                stream.set(&mut next, cursor);
            }
        }
    }
    Ok(FeedPage {
        changes: taken.into_iter().map(|placed| placed.change).collect(),
        next,
        has_more,
    })
}

/// The checkpoints of the feed's read models (the start of the log where one has none).
async fn checkpoints(database: &Database) -> Result<[LogCursor; 3], sqlx::Error> {
    let rows: Vec<(String, i64, i64)> = crate::sql::fetch_all(
        database,
        "SELECT name, transaction_id, position FROM checkpoints \
         WHERE name IN ('scores', 'setlists', 'quota_balances')",
        &Args::new(),
    )
    .await?;
    let mut bounds = [LogCursor::START; 3];
    for (name, transaction_id, position) in rows {
        if let Some(index) = Stream::ALL
            .iter()
            .position(|stream| stream.checkpoint_key() == name)
        {
            bounds[index] = LogCursor {
                transaction_id,
                position,
            };
        }
    }
    Ok(bounds)
}

/// An owner's rows of one read model changed in `(after, until]`, the first `fetch`.
struct Range<'a> {
    owner: &'a str,
    after: LogCursor,
    until: LogCursor,
    fetch: i64,
}

impl Range<'_> {
    /// The `WHERE` condition on the owner column `owner_column` and the cursor, and the
    /// `ORDER BY … LIMIT` after it.
    fn condition(&self, args: &mut Args, owner_column: &str) -> (String, String) {
        let owner = args.text(self.owner);
        let after = (
            args.int(self.after.transaction_id),
            args.int(self.after.position),
        );
        let until = (
            args.int(self.until.transaction_id),
            args.int(self.until.position),
        );
        let limit = args.int(self.fetch);
        (
            format!(
                "{owner_column} = {owner} \
                 AND (log_transaction_id, log_position) > ({}, {}) \
                 AND (log_transaction_id, log_position) <= ({}, {})",
                after.0, after.1, until.0, until.1
            ),
            format!("ORDER BY log_transaction_id, log_position LIMIT {limit}"),
        )
    }

    async fn scores(&self, database: &Database) -> Result<Vec<ScoreRow>, sqlx::Error> {
        let mut args = Args::new();
        let (condition, order) = self.condition(&mut args, "owner_id");
        let sql = format!(
            "SELECT log_transaction_id, log_position, id, version, state, created_at, updated_at \
             FROM scores WHERE {condition} AND lifecycle = 'confirmed' {order}"
        );
        crate::sql::fetch_all(database, &sql, &args).await
    }

    async fn setlists(&self, database: &Database) -> Result<Vec<SetlistRow>, sqlx::Error> {
        let mut args = Args::new();
        let (condition, order) = self.condition(&mut args, "owner_id");
        let sql = format!(
            "SELECT log_transaction_id, log_position, id, version, state, created_at, updated_at \
             FROM setlists WHERE {condition} {order}"
        );
        crate::sql::fetch_all(database, &sql, &args).await
    }

    async fn tombstones(
        &self,
        database: &Database,
        table: &'static str,
    ) -> Result<Vec<TombstoneRow>, sqlx::Error> {
        let mut args = Args::new();
        let (condition, order) = self.condition(&mut args, "owner_id");
        let sql = format!(
            "SELECT log_transaction_id, log_position, id, version FROM {table} \
             WHERE {condition} {order}"
        );
        crate::sql::fetch_all(database, &sql, &args).await
    }

    async fn quota(&self, database: &Database) -> Result<Vec<QuotaRow>, sqlx::Error> {
        let mut args = Args::new();
        let (condition, order) = self.condition(&mut args, "user_id");
        let sql = format!(
            "SELECT log_transaction_id, log_position, limit_bytes, used_bytes, reserved_bytes, \
             version FROM quota_balances WHERE {condition} {order}"
        );
        crate::sql::fetch_all(database, &sql, &args).await
    }
}

const fn cursor(transaction_id: i64, position: i64) -> LogCursor {
    LogCursor {
        transaction_id,
        position,
    }
}

fn version(value: i64) -> u64 {
    u64::try_from(value).unwrap_or_default()
}

fn score_change(stream: usize, row: ScoreRow) -> Result<Placed, ApiError> {
    let (transaction_id, position, id, stored_version, state, created_at, updated_at) = row;
    let score: Score = serde_json::from_value(state).map_err(|error| ApiError::internal(&error))?;
    let created_at = created_at.unwrap_or_default();
    let view = ScoreView::at(
        &score,
        usize::try_from(stored_version).unwrap_or_default(),
        created_at,
        updated_at.unwrap_or(created_at),
    )
    .ok_or_else(ApiError::not_found)?;
    Ok(Placed {
        cursor: cursor(transaction_id, position),
        stream,
        change: Change {
            kind: ChangeKind::Score,
            op: ChangeOp::Upsert,
            id: id.parse().map_err(|error| ApiError::internal(&error))?,
            version: version(stored_version),
            score: Some(view),
            bookmarks: Some(BookmarkView::all_of(&score)),
            setlist: None,
            quota: None,
        },
    })
}

fn setlist_change(stream: usize, row: SetlistRow) -> Result<Placed, ApiError> {
    let (transaction_id, position, id, stored_version, state, created_at, updated_at) = row;
    let setlist: Setlist =
        serde_json::from_value(state).map_err(|error| ApiError::internal(&error))?;
    let id: Uuid = id.parse().map_err(|error| ApiError::internal(&error))?;
    let items = setlist
        .items()
        .iter()
        .map(|item| SyncSetlistItem {
            id: item.item_id.into_uuid(),
            score_id: item.score_id.into_uuid(),
            bookmark_id: item.bookmark_id.map(aggregates::BookmarkId::into_uuid),
            pages: item.pages.clone(),
            note: item.note.clone(),
        })
        .collect();
    Ok(Placed {
        cursor: cursor(transaction_id, position),
        stream,
        change: Change {
            kind: ChangeKind::Setlist,
            op: ChangeOp::Upsert,
            id,
            version: version(stored_version),
            score: None,
            bookmarks: None,
            setlist: Some(SyncSetlist {
                id,
                name: setlist.name().to_owned(),
                description: setlist.description().map(str::to_owned),
                event_date: setlist.event_date(),
                notes: setlist.notes().map(str::to_owned),
                items,
                created_at,
                updated_at,
                version: version(stored_version),
            }),
            quota: None,
        },
    })
}

/// A tombstone's change; `None` for an id that is not a UUID (never written so).
fn tombstone(stream: usize, kind: ChangeKind, row: TombstoneRow) -> Option<Placed> {
    let (transaction_id, position, id, stored_version) = row;
    Some(Placed {
        cursor: cursor(transaction_id, position),
        stream,
        change: Change {
            kind,
            op: ChangeOp::Delete,
            id: id.parse().ok()?,
            version: version(stored_version),
            score: None,
            bookmarks: None,
            setlist: None,
            quota: None,
        },
    })
}

fn quota_change(stream: usize, owner: &str, row: QuotaRow) -> Option<Placed> {
    let (transaction_id, position, limit, used, reserved, stored_version) = row;
    let (limit, used, reserved) = (version(limit), version(used), version(reserved));
    Some(Placed {
        cursor: cursor(transaction_id, position),
        stream,
        change: Change {
            kind: ChangeKind::Quota,
            op: ChangeOp::Upsert,
            id: owner.parse().ok()?,
            version: version(stored_version),
            score: None,
            bookmarks: None,
            setlist: None,
            quota: Some(QuotaView {
                limit_bytes: limit,
                used_bytes: used,
                reserved_bytes: reserved,
                available_bytes: limit.saturating_sub(used.saturating_add(reserved)),
            }),
        },
    })
}
