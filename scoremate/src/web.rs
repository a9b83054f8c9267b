//! The musicians' web page at `/`: the files of `scoremate/web/` (the page and its
//! modules at `/app/{file}`), a client of the public API like any other. The files are
//! part of the binary in release builds; debug builds read them from the source folder,
//! so editing the page needs no rebuild. Every answer carries a Content-Security-Policy
//! that allows no inline script and no other origin but the object store's, where the
//! page PUTs uploads and loads thumbnails through presigned URLs.

use std::sync::Arc;

use rust_embed::Embed;
use warp::http::header::{self, HeaderMap, HeaderValue};
use warp::http::{Method, StatusCode};
use warp::path::FullPath;
use warp::{Filter, Rejection, Reply};

#[derive(Embed)]
#[folder = "web/"]
struct Files;

/// The page's security headers, built once: the policy names the object store's origin.
#[derive(Debug, Clone)]
pub struct WebPage {
    headers: HeaderMap,
}

impl WebPage {
    /// The headers of a page whose presigned URLs point at `object_store_origin`
    /// (`scheme://host[:port]`).
    pub fn new(object_store_origin: &str) -> Self {
        let policy = format!(
            "default-src 'none'; script-src 'self'; style-src 'self'; \
             img-src 'self' data: blob: {object_store_origin}; \
             connect-src 'self' {object_store_origin}; manifest-src 'self'; \
             form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
        );
        let mut headers = HeaderMap::new();
        // An origin that does not fit a header value is a misconfiguration the policy
        // cannot name; the page then loads nothing from the store, which fails closed.
        let policy = HeaderValue::from_str(&policy).unwrap_or_else(|_| {
            HeaderValue::from_static(
                "default-src 'none'; script-src 'self'; style-src 'self'; \
                 connect-src 'self'; img-src 'self'; frame-ancestors 'none'",
            )
        });
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        headers.insert(
            "cross-origin-opener-policy",
            HeaderValue::from_static("same-origin"),
        );
        // Small files, checked on every load: a new release shows at once.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        Self { headers }
    }
}

/// `scheme://host[:port]` of a URL (a presigned one: where the browser will go).
pub fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |at| at + 3);
    url[after_scheme..]
        .find(['/', '?'])
        .map_or(url, |end| &url[..after_scheme + end])
}

/// `GET /` (the page) and `GET /app/{file}` (its scripts, styles and images).
pub fn routes(
    page: Arc<WebPage>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    warp::method()
        .and(warp::path::full())
        .and(warp::header::optional::<String>("if-none-match"))
        .and_then(
            move |method: Method, path: FullPath, if_none_match: Option<String>| {
                let page = Arc::clone(&page);
                async move {
                    if method != Method::GET && method != Method::HEAD {
                        return Err(warp::reject::not_found());
                    }
                    let name = file_name(path.as_str()).ok_or_else(warp::reject::not_found)?;
                    let file = Files::get(name).ok_or_else(warp::reject::not_found)?;
                    Ok::<_, Rejection>(answer(&page, name, &file, if_none_match.as_deref()))
                }
            },
        )
}

/// The file a path asks for: `/` is the page; `/app/x.js` one of its files, by a plain
/// name (no folders, no dot files) so no path leaves the folder.
fn file_name(path: &str) -> Option<&str> {
    if path == "/" {
        return Some("index.html");
    }
    let name = path.strip_prefix("/app/")?;
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-_.".contains(&byte));
    (plain && name != "index.html").then_some(name)
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

fn answer(
    page: &WebPage,
    name: &str,
    file: &rust_embed::EmbeddedFile,
    if_none_match: Option<&str>,
) -> warp::reply::Response {
    let etag = format!("\"{}\"", hex(&file.metadata.sha256_hash()[..16]));
    let unchanged = if_none_match.is_some_and(|tags| {
        tags.split(',')
            .any(|tag| tag.trim().trim_start_matches("W/") == etag)
    });
    let mut response = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = warp::reply::Response::new(file.data.to_vec().into());
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(content_type(name)),
        );
        response
    };
    let headers = response.headers_mut();
    headers.extend(page.headers.clone());
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, etag);
    }
    response
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn only_plain_names_under_app_are_files() {
        assert_eq!(file_name("/"), Some("index.html"));
        assert_eq!(file_name("/app/main.js"), Some("main.js"));
        assert_eq!(file_name("/app/../Cargo.toml"), None);
        assert_eq!(file_name("/app/%2e%2e%2fCargo.toml"), None);
        assert_eq!(file_name("/app/.hidden"), None);
        assert_eq!(file_name("/app/"), None);
        assert_eq!(file_name("/app/sub/x.js"), None);
        assert_eq!(file_name("/index.html"), None);
    }

    #[test]
    fn origins_drop_the_path_and_the_query() {
        assert_eq!(
            origin_of("http://127.0.0.1:9000/scoremate/k?X-Amz-Signature=1"),
            "http://127.0.0.1:9000"
        );
        assert_eq!(
            origin_of("https://bucket.s3.amazonaws.com?x"),
            "https://bucket.s3.amazonaws.com"
        );
    }

    #[test]
    fn the_policy_allows_no_inline_script_and_names_the_store() {
        let page = WebPage::new("http://127.0.0.1:9000");
        let policy = page.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(policy.contains("script-src 'self';"));
        assert!(!policy.contains("unsafe-inline"));
        assert!(policy.contains("connect-src 'self' http://127.0.0.1:9000;"));
        assert!(policy.contains("frame-ancestors 'none'"));
    }
}
