//! `?page=N&page_size=M` or `?cursor=…&page_size=M` → `{count, count_is_exact, next,
//! previous, results}` with absolute links.
//!
//! Page numbers are an `OFFSET`, whose cost grows with the depth: they reach the first
//! [`PAGE_DEPTH`] items. Every list also answers to a cursor, an opaque token of the
//! ordering key of the row a page starts after (or ends before), which costs the same at
//! any depth; the `next` link switches from page numbers to a cursor where page numbers
//! end, so a client that follows links never meets the limit.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::http::error::{ApiError, FieldMessages};

pub const DEFAULT_PAGE_SIZE: u64 = 20;
pub const MAX_PAGE_SIZE: u64 = 100;

/// Page numbers reach the items before this one (`(page - 1) * page_size` below it).
pub const PAGE_DEPTH: u64 = 10_000;

/// The query of a paginated list.
#[derive(Debug, Clone, Deserialize, IntoParams)]
pub struct PageQuery {
    /// 1-based page number (default 1); pages start within the first 10,000 items
    /// (beyond, follow the `next` link: a cursor).
    pub page: Option<String>,
    /// Items per page (default 20, at most 100: larger values are capped).
    pub page_size: Option<String>,
    /// Where the page starts, from a `next` or `previous` link of the same list and
    /// ordering; empty: the first page, with cursor links. Not together with `page`.
    pub cursor: Option<String>,
}

/// Where a page starts.
#[derive(Debug, Clone, PartialEq)]
pub enum Position {
    /// A 1-based page number.
    Number(u64),
    /// The first rows, with cursor links (`?cursor=` left empty): a walk that stays put
    /// while items are added or removed ahead of it, as numbered pages do not.
    Start,
    /// The rows after the row with this ordering key, in the list's order.
    After(Vec<Value>),
    /// The rows before it.
    Before(Vec<Value>),
}

/// What a cursor carries: the ordering it belongs to and the key of the row it starts
/// after or ends before.
#[derive(Debug, Serialize, Deserialize)]
struct Cursor {
    #[serde(rename = "o")]
    ordering: String,
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    after: Option<Vec<Value>>,
    #[serde(rename = "b", default, skip_serializing_if = "Option::is_none")]
    before: Option<Vec<Value>>,
}

impl Cursor {
    fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    fn decode(token: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// The cursor of the rows after the row with `key` in the list ordered by `ordering`
/// (what a `next` link carries).
pub fn cursor_after(ordering: &str, key: Vec<Value>) -> String {
    Cursor {
        ordering: ordering.to_owned(),
        after: Some(key),
        before: None,
    }
    .encode()
}

/// A validated page request plus what is needed to link its neighbours.
#[derive(Debug, Clone)]
pub struct Page {
    pub size: u64,
    number: u64,
    cursor: Option<String>,
    base_url: String,
    /// `&search=…&ordering=…` of the request, repeated in the links.
    filters: String,
}

/// How many items a list has: exact, or (when counting them all would cost what the
/// list's size costs) at least this many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    pub items: u64,
    pub exact: bool,
}

impl Count {
    pub fn exact(items: u64) -> Self {
        Self { items, exact: true }
    }
}

/// A page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Paginated<T: Serialize> {
    /// The number of items, or when `count_is_exact` is false a lower bound of it.
    pub count: u64,
    /// Whether `count` is the number of items (true) or only how many were counted.
    pub count_is_exact: bool,
    pub next: Option<String>,
    pub previous: Option<String>,
    pub results: Vec<T>,
}

fn parse_positive(raw: Option<&str>, field: &str, errors: &mut FieldMessages) -> Option<u64> {
    let raw = raw?;
    match raw.parse::<u64>() {
        Ok(value) if value >= 1 => Some(value),
        _ => {
            errors
                .entry(field.to_owned())
                .or_default()
                .push("Must be a whole number, at least 1.".to_owned());
            None
        }
    }
}

/// E007 on `cursor`: one that does not decode, or belongs to another list or ordering.
pub fn refused_cursor() -> ApiError {
    ApiError::invalid_field(
        "cursor",
        "Not a cursor of this list in this ordering; follow the next and previous links.",
    )
}

impl Page {
    /// Validates the query: E007 for a page or size below 1 or not a number, or a page
    /// together with a cursor. Links are built on
    /// `public_url` (the configured address of the API), never on the request's `Host` or
    /// forwarding headers, which any client can set.
    pub fn from_query(query: &PageQuery, public_url: &str, path: &str) -> Result<Self, ApiError> {
        let mut errors = FieldMessages::new();
        let number = parse_positive(query.page.as_deref(), "page", &mut errors).unwrap_or(1);
        let size = parse_positive(query.page_size.as_deref(), "page_size", &mut errors)
            .unwrap_or(DEFAULT_PAGE_SIZE)
            .min(MAX_PAGE_SIZE);
        if !errors.is_empty() {
            return Err(ApiError::validation(errors));
        }
        if query.cursor.is_some() && query.page.is_some() {
            return Err(ApiError::invalid_field(
                "cursor",
                "Give either page or cursor, not both.",
            ));
        }
        Ok(Self {
            number,
            size,
            cursor: query.cursor.clone(),
            base_url: format!("{public_url}{path}"),
            filters: String::new(),
        })
    }

    /// Where the page of a list ordered by `ordering` starts: E007 for a page beyond
    /// [`PAGE_DEPTH`] or a cursor that is not one of this list's in this ordering.
    pub fn position(&self, ordering: &str) -> Result<Position, ApiError> {
        let Some(token) = &self.cursor else {
            if self.offset() >= PAGE_DEPTH {
                return Err(ApiError::invalid_field(
                    "page",
                    &format!(
                        "Page numbers reach the first {PAGE_DEPTH} items; beyond, follow \
                         the next link (a cursor)."
                    ),
                ));
            }
            return Ok(Position::Number(self.number));
        };
        if token.is_empty() {
            return Ok(Position::Start);
        }
        let cursor = Cursor::decode(token).ok_or_else(refused_cursor)?;
        if cursor.ordering != ordering {
            return Err(refused_cursor());
        }
        match (cursor.after, cursor.before) {
            (Some(key), None) => Ok(Position::After(key)),
            (None, Some(key)) => Ok(Position::Before(key)),
            _ => Err(refused_cursor()),
        }
    }

    pub fn offset(&self) -> u64 {
        (self.number - 1).saturating_mul(self.size)
    }

    /// Makes the `next`/`previous` links repeat the list's filters and ordering.
    #[must_use]
    pub fn keeping<Q: Serialize>(mut self, filters: &Q) -> Self {
        if let Ok(encoded) = serde_urlencoded::to_string(filters)
            && !encoded.is_empty()
        {
            self.filters = format!("&{encoded}");
        }
        self
    }

    fn link(&self, number: u64) -> String {
        format!(
            "{}?page={number}&page_size={}{}",
            self.base_url, self.size, self.filters
        )
    }

    fn cursor_link(&self, token: &str) -> String {
        format!(
            "{}?cursor={token}&page_size={}{}",
            self.base_url, self.size, self.filters
        )
    }

    /// One page of a whole list held in memory, in ascending order of a unique number
    /// (`key`: a version, say), by page number or by a cursor of `ordering`.
    pub fn slice_keyed<T: Serialize>(
        &self,
        ordering: &str,
        items: Vec<T>,
        key: impl Fn(&T) -> i64,
    ) -> Result<Paginated<T>, ApiError> {
        let position = self.position(ordering)?;
        let count = Count::exact(u64::try_from(items.len()).unwrap_or(u64::MAX));
        let size = usize::try_from(self.size).unwrap_or(usize::MAX);
        let mut rows: Vec<(T, Vec<Value>)> = items
            .into_iter()
            .map(|item| {
                let number = key(&item);
                (item, vec![Value::from(number)])
            })
            .collect();
        let cursor_key = |key: &[Value]| match key {
            [number] => number.as_i64().ok_or_else(refused_cursor),
            _ => Err(refused_cursor()),
        };
        let number_of = |row: &(T, Vec<Value>)| row.1.first().and_then(Value::as_i64);
        let (start, end) = match &position {
            Position::Number(_) => {
                let start = usize::try_from(self.offset()).unwrap_or(usize::MAX);
                (start, start.saturating_add(size + 1))
            }
            Position::Start => (0, size + 1),
            Position::After(key) => {
                let after = cursor_key(key)?;
                let start = rows.partition_point(|row| number_of(row) <= Some(after));
                (start, start.saturating_add(size + 1))
            }
            Position::Before(key) => {
                let before = cursor_key(key)?;
                let end = rows.partition_point(|row| number_of(row) < Some(before));
                (end.saturating_sub(size + 1), end)
            }
        };
        let end = end.min(rows.len());
        let start = start.min(end);
        let mut page: Vec<(T, Vec<Value>)> = rows.drain(start..end).collect();
        if matches!(position, Position::Before(_)) {
            // Read backwards from the cursor, as a database would.
            page.reverse();
        }
        self.wrap_keyed(ordering, &position, count, page)
    }

    /// Wraps the rows read for `position` of a list ordered by `ordering`: up to one more
    /// than the page size (which tells whether more follow), each with its ordering key,
    /// in the list's order (for [`Position::Before`], the reverse: read backwards from the
    /// cursor). A numbered page past the end answers 404 E003.
    pub fn wrap_keyed<T: Serialize>(
        &self,
        ordering: &str,
        position: &Position,
        count: Count,
        mut rows: Vec<(T, Vec<Value>)>,
    ) -> Result<Paginated<T>, ApiError> {
        let size = usize::try_from(self.size).unwrap_or(usize::MAX);
        let more = rows.len() > size;
        rows.truncate(size);
        if matches!(position, Position::Before(_)) {
            rows.reverse();
        }
        let after = |key: &Vec<Value>| self.cursor_link(&cursor_after(ordering, key.clone()));
        let before = |key: &Vec<Value>| {
            let cursor = Cursor {
                ordering: ordering.to_owned(),
                after: None,
                before: Some(key.clone()),
            };
            self.cursor_link(&cursor.encode())
        };
        let first = rows.first().map(|(_, key)| key);
        let last = rows.last().map(|(_, key)| key);
        let (next, previous) = match position {
            Position::Number(number) => {
                if *number > 1 && rows.is_empty() {
                    return Err(ApiError::not_found());
                }
                let next = if !more {
                    None
                } else if number.saturating_mul(self.size) < PAGE_DEPTH {
                    Some(self.link(number + 1))
                } else {
                    last.map(after)
                };
                (next, (*number > 1).then(|| self.link(number - 1)))
            }
            Position::Start => (last.filter(|_| more).map(after), None),
            Position::After(_) => (last.filter(|_| more).map(after), first.map(before)),
            Position::Before(_) => (last.map(after), first.filter(|_| more).map(before)),
        };
        Ok(Paginated {
            count: count.items,
            count_is_exact: count.exact,
            next,
            previous,
            results: rows.into_iter().map(|(row, _)| row).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]

    use serde_json::json;

    use super::*;

    fn page(query: &[(&str, &str)]) -> Result<Page, ApiError> {
        let get = |name: &str| {
            query
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        };
        Page::from_query(
            &PageQuery {
                page: get("page"),
                page_size: get("page_size"),
                cursor: get("cursor"),
            },
            "http://api",
            "/list",
        )
    }

    fn cursor_of(link: &str) -> String {
        link.split(['?', '&'])
            .find_map(|part| part.strip_prefix("cursor="))
            .unwrap_or_default()
            .to_owned()
    }

    fn keyed(n: i64) -> (i64, Vec<Value>) {
        (n, vec![json!(n)])
    }

    #[test]
    fn numbered_pages_hand_over_to_a_cursor_where_page_numbers_end() {
        let last_numbered = PAGE_DEPTH / 100;
        let page = page(&[("page", &last_numbered.to_string()), ("page_size", "100")])
            .expect("the last numbered page");
        let rows = (0..101).map(keyed).collect();
        let wrapped = page
            .wrap_keyed("o", &Position::Number(last_numbered), Count::exact(1), rows)
            .expect("a page");
        let next = wrapped.next.expect("more follow");
        let next_page = self::page(&[("cursor", &cursor_of(&next))]).expect("a cursor");
        assert_eq!(
            next_page.position("o").expect("its position"),
            Position::After(vec![json!(99)])
        );
        let beyond = self::page(&[
            ("page", &(last_numbered + 1).to_string()),
            ("page_size", "100"),
        ])
        .expect("parsed");
        assert!(beyond.position("o").is_err());
    }

    #[test]
    fn a_cursor_belongs_to_one_ordering_and_is_never_mixed_with_a_page() {
        let first = page(&[]).expect("page 1");
        let rows = (0..21).map(keyed).collect();
        let wrapped = first
            .wrap_keyed("title", &Position::Number(1), Count::exact(21), rows)
            .expect("a page");
        assert!(
            wrapped
                .next
                .as_deref()
                .is_some_and(|next| next.contains("page=2"))
        );
        let token = URL_SAFE_NO_PAD.encode(br#"{"o":"title","a":["x","y"]}"#);
        let cursor = page(&[("cursor", &token)]).expect("a cursor");
        assert!(cursor.position("-title").is_err());
        assert_eq!(
            cursor.position("title").expect("same ordering"),
            Position::After(vec![json!("x"), json!("y")])
        );
        assert!(page(&[("cursor", &token), ("page", "1")]).is_err());
        assert!(
            page(&[("cursor", "not base64!")])
                .expect("parsed")
                .position("title")
                .is_err()
        );
    }

    #[test]
    fn a_list_in_memory_pages_by_number_and_by_cursor_alike() {
        let items: Vec<i64> = (1..=10).collect();
        let first = page(&[("page_size", "3")]).expect("a page");
        let numbered = first
            .slice_keyed("version", items.clone(), |item| *item)
            .expect("page 1");
        assert_eq!(numbered.results, vec![1, 2, 3]);
        let after = page(&[
            ("page_size", "3"),
            ("cursor", &cursor_after("version", vec![json!(3)])),
        ])
        .expect("a cursor")
        .slice_keyed("version", items.clone(), |item| *item)
        .expect("after 3");
        assert_eq!(after.results, vec![4, 5, 6]);
        let back =
            page(&[("cursor", &cursor_of(&after.previous.expect("before 4")))]).expect("a cursor");
        let back = Page { size: 3, ..back }
            .slice_keyed("version", items, |item| *item)
            .expect("before 4");
        assert_eq!(back.results, vec![1, 2, 3]);
        assert!(back.previous.is_none());
    }

    #[test]
    fn a_page_read_backwards_is_turned_round_and_links_both_ways() {
        let cursor = page(&[("page_size", "2")]).expect("a page");
        let position = Position::Before(vec![json!(10)]);
        let rows = vec![keyed(9), keyed(8), keyed(7)];
        let wrapped = cursor
            .wrap_keyed("o", &position, Count::exact(10), rows)
            .expect("a page");
        assert_eq!(wrapped.results, vec![8, 9]);
        let previous = page(&[(
            "cursor",
            &cursor_of(&wrapped.previous.expect("more before")),
        )])
        .expect("a cursor");
        assert_eq!(
            previous.position("o").expect("position"),
            Position::Before(vec![json!(8)])
        );
        let next =
            page(&[("cursor", &cursor_of(&wrapped.next.expect("rows after")))]).expect("a cursor");
        assert_eq!(
            next.position("o").expect("position"),
            Position::After(vec![json!(9)])
        );
    }
}
