//! What setlist requests carry and answers show; each request body is read field by field
//! into its type, naming every bad field at once.

use aggregates::setlist::{MAX_SEQUENCE_PAGES, details_errors};
use aggregates::{BookmarkId, ItemPart, MAX_PAGE, ScoreId, SetlistItemId};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::http::error::ApiError;
use crate::http::extract::Fields;
pub use crate::routes::scores::BookmarkSummary;

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

/// One entry of a setlist: a whole score, one of its bookmarks, or a page sequence of it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SetlistItemView {
    pub id: Uuid,
    /// 0-based place in the list.
    pub position: usize,
    pub score_id: Uuid,
    /// What the item plays: the bookmark's title, else the score's.
    pub title: String,
    /// Set when the item plays one bookmark of the score.
    pub bookmark_id: Option<Uuid>,
    pub bookmark: Option<BookmarkSummary>,
    /// Set when the item plays these pages of the score, in this order (repeats allowed;
    /// with a bookmark, the piece's pages as played).
    pub pages: Option<Vec<u32>>,
    /// The first page the item plays (1 for a whole score).
    pub first_page: u32,
    /// Whether the pages it plays lie within the file: `null` until the page count is
    /// known; `false` is shown, never dropped.
    pub fits: Option<bool>,
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
    pub notes: Option<String>,
    pub item_count: usize,
    pub items: Vec<SetlistItemView>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The aggregate version (also the `ETag`).
    pub version: usize,
}

#[derive(Debug, ToSchema)]
pub struct SetlistRequest {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00]*[^\\s\\x00][^\\x00]*$"
    )]
    pub(super) name: String,
    #[schema(max_length = 2000)]
    pub(super) description: Option<String>,
    /// `YYYY-MM-DD`.
    #[schema(value_type = Option<String>, format = Date, pattern = "^(?:[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)$")]
    pub(super) event_date: Option<NaiveDate>,
    /// Free text for the performance (up to 10,000 characters).
    #[schema(max_length = 10000)]
    pub(super) notes: Option<String>,
}

#[derive(Debug, ToSchema)]
pub struct SetlistPatch {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00]*[^\\s\\x00][^\\x00]*$",
        nullable = false
    )]
    pub(super) name: Option<String>,
    /// `null` clears it.
    #[schema(value_type = Option<String>, max_length = 2000)]
    pub(super) description: Option<Option<String>>,
    /// `YYYY-MM-DD`; `null` clears it.
    #[schema(value_type = Option<String>, format = Date, pattern = "^(?:[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)$")]
    pub(super) event_date: Option<Option<NaiveDate>>,
    /// `null` clears them.
    #[schema(value_type = Option<String>, max_length = 10000)]
    pub(super) notes: Option<Option<String>>,
}

#[derive(Debug, ToSchema)]
pub struct AddItemRequest {
    /// One of the caller's live scores.
    #[schema(value_type = Uuid)]
    pub(super) score_id: ScoreId,
    /// Plays only this bookmark of the score.
    #[schema(value_type = Option<Uuid>, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")]
    pub(super) bookmark_id: Option<BookmarkId>,
    /// Plays these pages of the score in this order, repeats allowed (with `bookmark_id`:
    /// that piece, in this order); each within the file once its page count is known.
    #[schema(value_type = Option<Vec<PageNumber>>, min_items = 1, max_items = 500)]
    pub(super) pages: Option<Vec<u32>>,
    /// 0-based; inserts there and shifts the rest (default: append).
    #[schema(value_type = Option<u32>, maximum = 100_000)]
    pub(super) position: Option<usize>,
    #[schema(max_length = 500)]
    pub(super) note: Option<String>,
}

/// A 1-based page number.
#[derive(Debug, ToSchema)]
#[schema(minimum = 1, maximum = 100_000)]
#[allow(dead_code)]
pub struct PageNumber(u32);

#[derive(Debug, ToSchema)]
pub struct ReorderRequest {
    /// Every item of the setlist, once each, in the new order.
    #[schema(value_type = Vec<Uuid>)]
    pub(super) item_ids: Vec<SetlistItemId>,
}

impl SetlistRequest {
    /// Every invalid field at once (E007), with the domain's verdict on name and description.
    pub(super) fn read(body: Map<String, Value>) -> Result<Self, ApiError> {
        let mut fields = Fields::new(body);
        let name = fields.required_string("name");
        let description = fields.optional_string("description");
        let event_date = tri_state(&mut fields, "event_date", DATE_MESSAGE, parse_date).flatten();
        let notes = fields.optional_string("notes");
        fields.merge(details_errors(
            name.as_deref(),
            description.as_deref(),
            notes.as_deref(),
        ));
        fields.finish()?;
        let name = name.unwrap_or_default();
        Ok(Self {
            name,
            description,
            event_date,
            notes,
        })
    }
}

impl SetlistPatch {
    /// Every invalid field at once (E007), with the domain's verdict on name and description.
    pub(super) fn read(body: Map<String, Value>) -> Result<Self, ApiError> {
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
        let notes = tri_state(&mut fields, "notes", "Must be a string or null.", |text| {
            Some(text.to_owned())
        });
        fields.merge(details_errors(
            name.as_deref(),
            description.clone().flatten().as_deref(),
            notes.clone().flatten().as_deref(),
        ));
        fields.finish()?;
        Ok(Self {
            name,
            description,
            event_date,
            notes,
        })
    }
}

impl AddItemRequest {
    /// Every invalid field at once (E007).
    pub(super) fn read(body: Map<String, Value>) -> Result<Self, ApiError> {
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
        let bookmark_id = match fields.take("bookmark_id") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => text.parse::<BookmarkId>().ok().or_else(|| {
                fields.error("bookmark_id", "Must be a bookmark id.");
                None
            }),
            Some(_) => {
                fields.error("bookmark_id", "Must be a bookmark id.");
                None
            }
        };
        let pages = read_pages(&mut fields);
        fields.merge(
            ItemPart {
                bookmark_id,
                pages: pages.clone(),
            }
            .errors(),
        );
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
        Ok(Self {
            score_id,
            bookmark_id,
            pages,
            position,
            note,
        })
    }
}

impl ReorderRequest {
    /// E007 unless `item_ids` is a list of item ids.
    pub(super) fn read(body: Map<String, Value>) -> Result<Self, ApiError> {
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
        let Some(item_ids) = item_ids else {
            return Err(ApiError::invalid_field(
                "item_ids",
                "This field is required.",
            ));
        };
        Ok(Self { item_ids })
    }
}

/// `pages`: absent or null → `None`; otherwise a list of page numbers (the domain then
/// checks its length and range).
fn read_pages(fields: &mut Fields) -> Option<Vec<u32>> {
    const MESSAGE: &str = "Must be a list of page numbers.";
    match fields.take("pages") {
        None | Some(Value::Null) => None,
        Some(Value::Array(values)) if values.len() > MAX_SEQUENCE_PAGES => {
            fields.error(
                "pages",
                format!("Must list 1 to {MAX_SEQUENCE_PAGES} pages."),
            );
            None
        }
        Some(Value::Array(values)) => {
            let pages: Option<Vec<u32>> = values
                .iter()
                .map(|value| match value {
                    Value::Number(number) => crate::http::extract::whole_number(number)
                        .map(|page| u32::try_from(page).unwrap_or(MAX_PAGE.saturating_add(1))),
                    _ => None,
                })
                .collect();
            pages.or_else(|| {
                fields.error("pages", MESSAGE);
                None
            })
        }
        Some(_) => {
            fields.error("pages", MESSAGE);
            None
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
