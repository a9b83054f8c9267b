//! Optimistic concurrency over HTTP: the aggregate version is the `ETag`, and `If-Match`
//! makes a change conditional on it.

use utoipa::IntoParams;
use warp::http::header;
use warp::{Filter, Rejection};

use crate::http::error::ApiError;

/// `If-Match: "3"`, `W/"3"` or `3` → 3; `*` matches any version.
pub fn parse_if_match(raw: &str) -> Result<Option<usize>, ApiError> {
    let raw = raw.trim();
    if raw == "*" {
        return Ok(None);
    }
    raw.trim_start_matches("W/")
        .trim_matches('"')
        .parse::<usize>()
        .map(Some)
        .map_err(|_| {
            ApiError::invalid_field(
                "If-Match",
                "Must be a version (an ETag such as \"3\") or *.",
            )
        })
}

/// Sets `ETag: "<version>"`.
pub fn with_etag(mut response: warp::reply::Response, version: usize) -> warp::reply::Response {
    if let Ok(etag) = header::HeaderValue::from_str(&format!("\"{version}\"")) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}

/// `If-Match` of a conditional command, as the filter [`if_match`] extracts it.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IfMatch {
    /// The version (ETag) the change is based on: "3", W/"3", 3 or *
    #[param(
        rename = "If-Match",
        nullable = false,
        pattern = "^(\\*|(W/)?\"?[0-9]{1,18}\"?)$"
    )]
    pub if_match: Option<String>,
}

/// The request's `If-Match`, if any (parsed by the handler: [`parse_if_match`]).
pub fn if_match() -> impl Filter<Extract = (IfMatch,), Error = Rejection> + Clone {
    warp::header::optional::<String>("if-match").map(|if_match| IfMatch { if_match })
}
