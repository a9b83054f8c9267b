//! Optimistic concurrency over HTTP: the aggregate version is the `ETag`, and `If-Match`
//! makes a change conditional on it.

use warp::http::header;

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
            let mut fields = crate::http::error::FieldMessages::new();
            fields.insert(
                "If-Match".to_owned(),
                vec!["Must be a version (an ETag such as \"3\") or *.".to_owned()],
            );
            ApiError::validation(fields)
        })
}

/// Sets `ETag: "<version>"`.
pub fn with_etag(mut response: warp::reply::Response, version: usize) -> warp::reply::Response {
    if let Ok(etag) = header::HeaderValue::from_str(&format!("\"{version}\"")) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}
