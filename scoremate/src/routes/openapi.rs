//! The OpenAPI 3.1 document, generated from the handlers' annotations, and the Swagger UI
//! page over it (its assets are compiled into the binary: no CDN).

use std::sync::Arc;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use warp::http::{Method, StatusCode, header};
use warp::path::{FullPath, Tail};
use warp::{Filter, Rejection, Reply};

use crate::http::endpoint::endpoint;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ScoreMate API",
        description = "Sheet-music libraries: accounts, uploads straight to S3, quotas, scores, setlists. \
                       Errors are application/problem+json with `code` E001–E015.",
        version = env!("CARGO_PKG_VERSION"),
    ),
    paths(
        crate::routes::auth::register,
        crate::routes::auth::login,
        crate::routes::auth::refresh,
        crate::routes::auth::logout,
        crate::routes::me::me,
        crate::routes::me::quota,
        crate::routes::me::quota_history,
        crate::routes::uploads::create_upload_url,
        crate::routes::uploads::cancel_upload,
        crate::routes::scores::commands::confirm_upload,
        crate::routes::scores::commands::delete_score,
        crate::routes::scores::files::download,
        crate::routes::scores::files::thumbnail,
        crate::routes::scores::previews::page_thumbnail,
        crate::routes::scores::commands::patch_score,
        crate::routes::scores::library::list_scores,
        crate::routes::scores::library::get_score,
        crate::routes::scores::library::list_duplicates,
        crate::routes::scores::bookmarks::list_bookmarks,
        crate::routes::scores::bookmarks::add_bookmark,
        crate::routes::scores::bookmarks::get_bookmark,
        crate::routes::scores::bookmarks::patch_bookmark,
        crate::routes::scores::bookmarks::delete_bookmark,
        crate::routes::scores::bookmark_import::import_bookmarks,
        crate::routes::setlists::commands::create_setlist,
        crate::routes::setlists::queries::list_setlists,
        crate::routes::setlists::queries::get_setlist,
        crate::routes::setlists::commands::patch_setlist,
        crate::routes::setlists::commands::delete_setlist,
        crate::routes::setlists::commands::add_item,
        crate::routes::setlists::commands::remove_item,
        crate::routes::setlists::commands::reorder_items,
        crate::routes::audit::quota_history,
        crate::routes::sync::sync,
        openapi_json,
    ),
    components(schemas(crate::http::error::Problem)),
    modifiers(&BearerAuth),
    tags((name = "auth", description = "Accounts and sessions"), (name = "files", description = "Uploads straight to the object store"), (name = "scores", description = "Scores"), (name = "setlists", description = "Setlists for concerts"), (name = "quota", description = "Storage quota"), (name = "sync", description = "Changes since a token, for clients that keep a copy"), (name = "audit", description = "Quota history replayed from the event store (role auditor)"), (name = "meta", description = "This document"))
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The document as generated from the handlers' annotations.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// What no string the API reads may hold: a NUL character (see `extract`).
const NO_NUL: &str = "^[^\\u0000]*$";

/// The document as served: [`document`], with every free-form string (no `format`,
/// `pattern`, `enum` or `const` of its own) declared free of NUL characters, as the
/// handlers enforce, so clients and schema-driven tests know the rule.
pub fn document_json() -> serde_json::Value {
    let mut json = serde_json::to_value(document()).unwrap_or_default();
    forbid_nul_in_strings(&mut json);
    json
}

fn forbid_nul_in_strings(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            let string = map.get("type").is_some_and(|kind| {
                kind == "string"
                    || kind
                        .as_array()
                        .is_some_and(|kinds| kinds.iter().any(|kind| kind == "string"))
            });
            let constrained = ["format", "pattern", "enum", "const"]
                .iter()
                .any(|keyword| map.contains_key(*keyword));
            if string && !constrained {
                map.insert("pattern".to_owned(), NO_NUL.into());
            }
            map.values_mut().for_each(forbid_nul_in_strings);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(forbid_nul_in_strings),
        _ => {}
    }
}

#[utoipa::path(
    get, path = "/api/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "This OpenAPI 3.1 document", content_type = "application/json"))
)]
pub fn openapi_json() {}

pub fn routes() -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let json = Arc::new(serde_json::to_vec(&document_json()).unwrap_or_default());
    let spec = endpoint(Method::GET, "/api/v1/openapi.json").map(move |_| {
        let mut response = warp::reply::Response::new(json.as_ref().clone().into());
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        );
        response
    });
    let config = Arc::new(utoipa_swagger_ui::Config::from("/api/v1/openapi.json"));
    // `/docs` and `/docs/` are told apart by the full path: warp's path matching ignores a
    // trailing slash, and the page's relative asset links need it.
    let docs = warp::path("docs")
        .and(warp::get())
        .and(warp::path::full())
        .and(warp::path::tail())
        .map(move |full: FullPath, tail: Tail| {
            if full.as_str() == "/docs" {
                warp::redirect::found(warp::http::Uri::from_static("/docs/")).into_response()
            } else {
                swagger_file(tail.as_str(), Arc::clone(&config))
            }
        });
    spec.or(docs).unify()
}

fn swagger_file(
    path: &str,
    config: Arc<utoipa_swagger_ui::Config<'static>>,
) -> warp::reply::Response {
    match utoipa_swagger_ui::serve(path, config) {
        Ok(Some(file)) => {
            let mut response = warp::reply::Response::new(file.bytes.to_vec().into());
            if let Ok(content_type) = header::HeaderValue::from_str(&file.content_type) {
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, content_type);
            }
            response
        }
        Ok(None) => crate::http::error::ApiError::not_found().into_response(),
        Err(error) => {
            tracing::error!(%error, "serving the docs page");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
