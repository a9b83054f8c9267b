//! What setlist requests carry and answers show.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

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
