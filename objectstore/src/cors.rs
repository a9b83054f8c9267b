//! Cross-origin access to the embedded endpoint: the web page (served by the API on
//! another port, so another origin) PUTs uploads and GETs thumbnails straight from it.
//! An external store's bucket carries the same rule in its own CORS configuration
//! (docs/web.md); here the endpoint answers it itself, because `s3s` has no CORS.

use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Response, StatusCode};

/// Methods a page may use on presigned URLs.
const ALLOWED_METHODS: &str = "GET, PUT, HEAD";

/// Headers a page may read: `ETag` tells an uploader which bytes were stored.
const EXPOSED_HEADERS: &str = "ETag";

/// How long a browser may keep a preflight answer (seconds).
const PREFLIGHT_MAX_AGE: &str = "600";

/// The origins (`scheme://host[:port]`) whose pages may call the endpoint; none by
/// default, so only same-origin and non-browser clients get through.
#[derive(Debug, Clone, Default)]
pub struct CorsOrigins(Vec<String>);

impl CorsOrigins {
    /// Origins compared exactly (browsers send them lowercase, without a trailing `/`).
    #[must_use]
    pub fn new(origins: impl IntoIterator<Item = String>) -> Self {
        Self(
            origins
                .into_iter()
                .map(|origin| origin.trim_end_matches('/').to_ascii_lowercase())
                .collect(),
        )
    }

    /// The request's `Origin` when it is one of ours.
    fn allowed<'h>(&self, origin: Option<&'h HeaderValue>) -> Option<&'h HeaderValue> {
        let origin = origin?;
        let text = origin.to_str().ok()?;
        self.0
            .iter()
            .any(|allowed| allowed == text)
            .then_some(origin)
    }

    /// The answer to a preflight (`OPTIONS` with `Access-Control-Request-Method`), which
    /// the S3 service itself would refuse: `None` for any other request.
    pub(crate) fn preflight<B: Default>(
        &self,
        method: &Method,
        headers: &HeaderMap,
    ) -> Option<Response<B>> {
        if method != Method::OPTIONS || !headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        {
            return None;
        }
        let mut response = Response::new(B::default());
        response
            .headers_mut()
            .insert(header::VARY, HeaderValue::from_static("Origin"));
        let Some(origin) = self.allowed(headers.get(header::ORIGIN)) else {
            *response.status_mut() = StatusCode::FORBIDDEN;
            return Some(response);
        };
        *response.status_mut() = StatusCode::NO_CONTENT;
        let answer = response.headers_mut();
        answer.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        answer.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOWED_METHODS),
        );
        // The signature decides which headers count; any header the page asks to send
        // may cross (a header the URL did not sign is refused by the signature check).
        if let Some(requested) = headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
            answer.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested.clone());
        }
        answer.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static(PREFLIGHT_MAX_AGE),
        );
        Some(response)
    }

    /// Marks the answer to a request from `origin` (its `Origin` header) as readable by
    /// that page when the origin is allowed.
    pub(crate) fn expose<B>(&self, origin: Option<&HeaderValue>, response: &mut Response<B>) {
        let headers = response.headers_mut();
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
        if let Some(origin) = self.allowed(origin) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            headers.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(EXPOSED_HEADERS),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn preflight_from(origin: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
        headers.insert(
            header::ACCESS_CONTROL_REQUEST_METHOD,
            HeaderValue::from_static("PUT"),
        );
        headers.insert(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            HeaderValue::from_static("content-type"),
        );
        headers
    }

    #[test]
    fn preflights_of_listed_origins_pass_and_others_are_refused() {
        let cors = CorsOrigins::new(["http://127.0.0.1:8080/".to_owned()]);
        let ours: Response<()> = cors
            .preflight(&Method::OPTIONS, &preflight_from("http://127.0.0.1:8080"))
            .unwrap();
        assert_eq!(ours.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            ours.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            ours.headers()[header::ACCESS_CONTROL_ALLOW_HEADERS],
            "content-type"
        );
        let theirs: Response<()> = cors
            .preflight(&Method::OPTIONS, &preflight_from("http://evil.example"))
            .unwrap();
        assert_eq!(theirs.status(), StatusCode::FORBIDDEN);
        assert!(
            !theirs
                .headers()
                .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        );
        let plain: Option<Response<()>> = cors.preflight(&Method::PUT, &HeaderMap::new());
        assert!(plain.is_none());
    }

    #[test]
    fn only_listed_origins_may_read_answers() {
        let cors = CorsOrigins::new(["http://localhost:8080".to_owned()]);
        let mut ours = Response::new(());
        cors.expose(
            preflight_from("http://localhost:8080").get(header::ORIGIN),
            &mut ours,
        );
        assert_eq!(
            ours.headers()[header::ACCESS_CONTROL_EXPOSE_HEADERS],
            "ETag"
        );
        let mut theirs = Response::new(());
        cors.expose(
            preflight_from("http://localhost:8081").get(header::ORIGIN),
            &mut theirs,
        );
        assert!(
            !theirs
                .headers()
                .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        );
        assert_eq!(theirs.headers()[header::VARY], "Origin");
    }
}
