//! What setlist requests carry and answers show; each request body is read field by field
//! into its type, naming every bad field at once.

use aggregates::setlist::details_errors;
use aggregates::{ScoreId, SetlistItemId};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::http::error::ApiError;
use crate::http::extract::Fields;

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
}

#[derive(Debug, ToSchema)]
pub struct AddItemRequest {
    /// One of the caller's live scores.
    #[schema(value_type = Uuid)]
    pub(super) score_id: ScoreId,
    /// 0-based; inserts there and shifts the rest (default: append).
    #[schema(value_type = Option<u32>, maximum = 100_000)]
    pub(super) position: Option<usize>,
    #[schema(max_length = 500)]
    pub(super) note: Option<String>,
}

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
        fields.merge(details_errors(name.as_deref(), description.as_deref()));
        fields.finish()?;
        let name = name.unwrap_or_default();
        Ok(Self {
            name,
            description,
            event_date,
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
        fields.merge(details_errors(
            name.as_deref(),
            description.clone().flatten().as_deref(),
        ));
        fields.finish()?;
        Ok(Self {
            name,
            description,
            event_date,
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
