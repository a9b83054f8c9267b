//! `?page=N&page_size=M` → `{count, next, previous, results}` with absolute links.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, FieldMessages};

pub const DEFAULT_PAGE_SIZE: u64 = 20;
pub const MAX_PAGE_SIZE: u64 = 100;

/// The query of a paginated list.
#[derive(Debug, Clone, Deserialize, IntoParams)]
pub struct PageQuery {
    /// 1-based page number (default 1).
    pub page: Option<String>,
    /// Items per page (default 20, at most 100: larger values are capped).
    pub page_size: Option<String>,
}

/// A validated page request plus what is needed to link its neighbours.
#[derive(Debug, Clone)]
pub struct Page {
    pub number: u64,
    pub size: u64,
    base_url: String,
    /// `&search=…&ordering=…` of the request, repeated in the links.
    filters: String,
}

/// A page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Paginated<T: Serialize> {
    pub count: u64,
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

impl Page {
    /// Validates the query: E007 for a page or size below 1 or not a number. Links are
    /// built on `public_url` (the configured address of the API), never on the request's
    /// `Host` or forwarding headers, which any client can set.
    pub fn from_query(query: &PageQuery, public_url: &str, path: &str) -> Result<Self, ApiError> {
        let mut errors = FieldMessages::new();
        let number = parse_positive(query.page.as_deref(), "page", &mut errors).unwrap_or(1);
        let size = parse_positive(query.page_size.as_deref(), "page_size", &mut errors)
            .unwrap_or(DEFAULT_PAGE_SIZE)
            .min(MAX_PAGE_SIZE);
        if !errors.is_empty() {
            return Err(ApiError::validation(errors));
        }
        Ok(Self {
            number,
            size,
            base_url: format!("{public_url}{path}"),
            filters: String::new(),
        })
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

    /// Wraps one page of `count` items; a page past the end answers 404 E003 (page 1 of an
    /// empty list is an empty page).
    pub fn wrap<T: Serialize>(
        &self,
        count: u64,
        results: Vec<T>,
    ) -> Result<Paginated<T>, ApiError> {
        if self.number > 1 && self.offset() >= count {
            return Err(ApiError::not_found());
        }
        let next = (self.offset() + self.size < count).then(|| self.link(self.number + 1));
        let previous = (self.number > 1).then(|| self.link(self.number - 1));
        Ok(Paginated {
            count,
            next,
            previous,
            results,
        })
    }
}
