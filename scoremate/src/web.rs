//! The musicians' web page at `/`: the files of `scoremate/web/` (the page and its
//! modules at `/app/{file}`), a client of the public API like any other. The files are
//! part of the binary in release builds; debug builds read them from the source folder,
//! so editing the page needs no rebuild. Text files go out gzipped to clients that take
//! it (compressed once per content). Every answer carries a Content-Security-Policy
//! that allows no inline script and no other origin but the object store's, where the
//! page PUTs uploads and loads thumbnails through presigned URLs.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
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
        .and(warp::header::optional::<String>("accept-encoding"))
        .and_then(
            move |method: Method,
                  path: FullPath,
                  if_none_match: Option<String>,
                  accept_encoding: Option<String>| {
                let page = Arc::clone(&page);
                async move {
                    if method != Method::GET && method != Method::HEAD {
                        return Err(warp::reject::not_found());
                    }
                    let name = file_name(path.as_str()).ok_or_else(warp::reject::not_found)?;
                    let file = Files::get(name).ok_or_else(warp::reject::not_found)?;
                    let gzip = accept_encoding.as_deref().is_some_and(accepts_gzip);
                    Ok::<_, Rejection>(answer(&page, name, &file, gzip, if_none_match.as_deref()))
                }
            },
        )
}

/// Whether an `Accept-Encoding` takes gzip (and does not refuse it with `q=0`).
fn accepts_gzip(accept_encoding: &str) -> bool {
    accept_encoding.split(',').any(|coding| {
        let mut parts = coding.split(';').map(str::trim);
        let name = parts.next().unwrap_or_default();
        let refused = parts.any(|parameter| {
            parameter
                .strip_prefix("q=")
                .and_then(|q| q.parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
    })
}

/// The gzip form of each text file, made once per content (the page's files are few and
/// fixed in a release; a debug build adds one per edit).
static GZIPPED: LazyLock<Mutex<HashMap<[u8; 32], Bytes>>> = LazyLock::new(Mutex::default);

fn gzipped(file: &rust_embed::EmbeddedFile) -> Option<Bytes> {
    let hash = file.metadata.sha256_hash();
    let mut cache = GZIPPED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(done) = cache.get(&hash) {
        return Some(done.clone());
    }
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(&file.data).ok()?;
    let compressed = Bytes::from(encoder.finish().ok()?);
    cache.insert(hash, compressed.clone());
    Some(compressed)
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

/// A file's media type, and whether gzip makes it smaller (text does, PNG does not).
fn content_type(name: &str) -> (&'static str, bool) {
    match name.rsplit('.').next() {
        Some("html") => ("text/html; charset=utf-8", true),
        Some("js") => ("text/javascript; charset=utf-8", true),
        Some("css") => ("text/css; charset=utf-8", true),
        Some("svg") => ("image/svg+xml", true),
        Some("json") => ("application/json", true),
        Some("png") => ("image/png", false),
        _ => ("application/octet-stream", false),
    }
}

fn answer(
    page: &WebPage,
    name: &str,
    file: &rust_embed::EmbeddedFile,
    gzip: bool,
    if_none_match: Option<&str>,
) -> warp::reply::Response {
    let (content_type, compressible) = content_type(name);
    let compressed = (gzip && compressible).then(|| gzipped(file)).flatten();
    // Each encoding is a representation of its own, with a tag of its own.
    let etag = format!(
        "\"{}{}\"",
        hex(&file.metadata.sha256_hash()[..16]),
        if compressed.is_some() { "-gz" } else { "" }
    );
    let unchanged = if_none_match.is_some_and(|tags| {
        tags.split(',')
            .any(|tag| tag.trim().trim_start_matches("W/") == etag)
    });
    let mut response = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let body = compressed
            .clone()
            .unwrap_or_else(|| Bytes::copy_from_slice(&file.data));
        let mut response = warp::reply::Response::new(body.into());
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        response
    };
    let headers = response.headers_mut();
    headers.extend(page.headers.clone());
    if compressible {
        headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    if compressed.is_some() {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
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
    fn gzip_is_taken_unless_refused() {
        assert!(accepts_gzip("gzip, deflate, br, zstd"));
        assert!(accepts_gzip("br;q=1.0, GZIP;q=0.5"));
        assert!(accepts_gzip("*"));
        assert!(!accepts_gzip("gzip;q=0, br"));
        assert!(!accepts_gzip("identity"));
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
