//! Routes are declared with `endpoint(method, "/api/v1/scores/{id}")`: the one place that
//! knows every route template, so the access log names the template (never the raw path)
//! and a test can check that the OpenAPI document covers every route that exists.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};

use warp::Filter;
use warp::http::Method;
use warp::path::FullPath;
use warp::reject::Rejection;

use crate::http::context::RequestContext;

static REGISTRY: Mutex<BTreeSet<(String, &'static str)>> = Mutex::new(BTreeSet::new());

/// The path matched `template` but the method did not (answered 405 with `Allow`).
#[derive(Debug)]
pub struct WrongMethod(pub &'static str);

impl WrongMethod {
    /// The methods registered for this template, for the `Allow` header.
    pub fn allowed(&self) -> String {
        let registry = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
        let mut methods: Vec<&str> = registry
            .iter()
            .filter(|(_, template)| *template == self.0)
            .map(|(method, _)| method.as_str())
            .collect();
        if methods.contains(&"GET") {
            methods.push("HEAD");
        }
        methods.join(", ")
    }
}

impl warp::reject::Reject for WrongMethod {}

/// The `{placeholders}` of a matched template, in order, percent-decoded.
#[derive(Debug, Clone, Default)]
pub struct PathParams(Vec<String>);

impl PathParams {
    pub fn get(&self, index: usize) -> &str {
        self.0.get(index).map_or("", String::as_str)
    }
}

#[derive(Debug)]
enum Segment {
    Literal(&'static str),
    Param,
}

fn parse(template: &'static str) -> Vec<Segment> {
    template
        .trim_start_matches('/')
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') && segment.ends_with('}') {
                Segment::Param
            } else {
                Segment::Literal(segment)
            }
        })
        .collect()
}

fn match_path(template: &[Segment], path: &str) -> Option<PathParams> {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if parts.len() != template.len() {
        return None;
    }
    let mut params = Vec::new();
    for (segment, part) in template.iter().zip(parts) {
        match segment {
            Segment::Literal(literal) if *literal == part => {}
            Segment::Literal(_) => return None,
            Segment::Param if part.is_empty() => return None,
            Segment::Param => params.push(percent_decode(part)?),
        }
    }
    Some(PathParams(params))
}

fn percent_decode(part: &str) -> Option<String> {
    let bytes = part.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = part.get(index + 1..index + 3)?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            decoded.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(decoded).ok()
}

/// Matches `method` on `template` and extracts its parameters; registers the route.
pub fn endpoint(
    method: Method,
    template: &'static str,
) -> impl Filter<Extract = (PathParams,), Error = Rejection> + Clone {
    REGISTRY
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert((method.to_string(), template));
    let segments = Arc::new(parse(template));
    let has_params = template.contains('{');
    warp::path::full()
        .and(warp::method())
        .and_then(move |path: FullPath, actual: Method| {
            let segments = Arc::clone(&segments);
            let expected = method.clone();
            async move {
                let params =
                    match_path(&segments, path.as_str()).ok_or_else(warp::reject::not_found)?;
                // A path some template spells out (`/scores/duplicates`) is that route's,
                // never a parameter's value (`/scores/{id}`): a method it lacks is a 405.
                if has_params && is_literal_route(path.as_str()) {
                    return Err(warp::reject::not_found());
                }
                if actual != expected && !(expected == Method::GET && actual == Method::HEAD) {
                    return Err(warp::reject::custom(WrongMethod(template)));
                }
                RequestContext::record_route(template);
                Ok(params)
            }
        })
}

/// Whether a template without parameters is exactly `path`.
fn is_literal_route(path: &str) -> bool {
    REGISTRY
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .any(|(_, template)| *template == path && !template.contains('{'))
}

/// Every `(METHOD, template)` built so far.
pub fn registered_routes() -> BTreeSet<(String, &'static str)> {
    REGISTRY
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_their_paths_and_decode_parameters() {
        let template = parse("/api/v1/scores/{id}/file");
        let params = match_path(&template, "/api/v1/scores/a%20b/file").map(|params| params.0);
        assert_eq!(params, Some(vec!["a b".to_owned()]));
        assert!(match_path(&template, "/api/v1/scores//file").is_none());
        assert!(match_path(&template, "/api/v1/scores/x/file/more").is_none());
        assert!(match_path(&template, "/api/v1/scores/%zz/file").is_none());
    }
}
