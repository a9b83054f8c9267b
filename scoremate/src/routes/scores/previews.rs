//! `GET /api/v1/scores/{id}/pages/{n}/thumbnail?width=`: any page of a score as a PNG,
//! rendered on demand in the PDF sandbox the first time, kept in the object store beside
//! the score's own objects and answered as a presigned redirect like the first-page
//! thumbnail. Rendering is bounded per user and per process (`crate::preview_renders`).

use aggregates::{ScoreStatus, UploadId};
use objectstore::page_preview_key;
use score_pdf::Operation;
use serde::Deserialize;
use utoipa::IntoParams;
use warp::http::Method;
use warp::{Filter, Rejection};

use super::files::{RedirectQuery, callers_live_score, presigned_link};
use super::views::DownloadUrl;
use crate::http::authenticate::{Principal, authenticated};
use crate::http::endpoint::{PathParams, endpoint};
use crate::http::error::{ApiError, Problem};
use crate::http::openapi::{Authenticated, ObjectStoreFailed};
use crate::http::reply::into_reply;
use crate::state::AppState;

/// The widths a preview is rendered at, multiples of this step up to [`MAX_WIDTH`]: a few,
/// so that the cache holds a few objects per page rather than one per width a client can
/// think of.
pub const WIDTH_STEP: u32 = 150;
pub const MAX_WIDTH: u32 = 1200;
const DEFAULT_WIDTH: u32 = 300;

/// The preview's width (beside `RedirectQuery`, read from the same query string).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WidthQuery {
    /// Pixels: a multiple of 150 up to 1200 (default 300).
    #[param(value_type = Option<u32>, minimum = 150, maximum = 1200, multiple_of = 150)]
    pub width: Option<String>,
}

impl WidthQuery {
    fn width(&self) -> Result<u32, ApiError> {
        match self.width.as_deref() {
            None => Ok(DEFAULT_WIDTH),
            Some(text) => text
                .parse::<u32>()
                .ok()
                .filter(|width| (WIDTH_STEP..=MAX_WIDTH).contains(width) && width % WIDTH_STEP == 0)
                .ok_or_else(|| ApiError::invalid_field("width", "A multiple of 150 up to 1200.")),
        }
    }
}

pub fn routes(
    state: &AppState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone + use<> {
    endpoint(Method::GET, "/api/v1/scores/{id}/pages/{page}/thumbnail")
        .and(state.each_request())
        .and(authenticated(state.authenticator()))
        .and(warp::query::<WidthQuery>())
        .and(warp::query::<RedirectQuery>())
        .then(|params, state, principal, width, redirect| {
            page_thumbnail(state, principal, params, width, redirect)
        })
        .map(into_reply)
        // Boxed: its future would otherwise be nested into every request's stack frame.
        .boxed()
}

#[utoipa::path(
    get, path = "/api/v1/scores/{id}/pages/{page}/thumbnail", tag = "scores",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "The score"),
        ("page" = u32, Path, description = "1-based page number, at most the page count"),
        WidthQuery,
        RedirectQuery,
    ),
    responses(
        (status = 200, description = "With `redirect=false`: the presigned link", body = DownloadUrl),
        (status = 302, description = "Redirect to a short-lived presigned GET of the PNG of that page, `width` pixels wide (rendered now the first time it is asked for)"),
        (status = 400, description = "Malformed query or width not offered (E007); the page cannot be rendered (E004)", body = Problem, content_type = "application/problem+json"),
        Authenticated,
        (status = 404, description = "No such score of the caller, page count not known yet, or no such page (E003)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "The caller already has 2 previews rendering, or the server is busy rendering (E010, `Retry-After`)", body = Problem, content_type = "application/problem+json"),
        ObjectStoreFailed,
    )
)]
pub async fn page_thumbnail(
    state: AppState,
    principal: Principal,
    params: PathParams,
    width: WidthQuery,
    redirect: RedirectQuery,
) -> Result<warp::reply::Response, ApiError> {
    let score_id: UploadId = params.get(0).parse().map_err(|_| ApiError::not_found())?;
    let page: u32 = params.get(1).parse().map_err(|_| ApiError::not_found())?;
    let width = width.width()?;
    let score = callers_live_score(&state, &principal, score_id).await?;
    let (Some(owner), Some(file), Some(page_count)) =
        (score.owner(), score.file(), score.page_count())
    else {
        return Err(ApiError::not_found());
    };
    if page == 0 || page > page_count {
        return Err(ApiError::not_found());
    }
    let key = page_preview_key(owner.into_uuid(), score_id.into_uuid(), page, width);
    let objects = &state.services.objects;
    if objects.head(&key).await?.is_none() {
        let previews = &state.services.previews;
        let _slot = previews.slot(principal.user_id).await.map_err(|refused| {
            metrics::counter!("scoremate_page_preview_refusals_total").increment(1);
            ApiError::from(refused)
        })?;
        // Another request may have rendered it while this one waited.
        if objects.head(&key).await?.is_none() {
            let sandbox = &state.services.pdf_sandbox;
            let bytes = objects
                .get(&file.object_key, sandbox.limits.max_input_bytes)
                .await?;
            let outcome = sandbox.run(&bytes, Operation::Page { page, width }).await?;
            let png = outcome
                .thumbnail
                .ok_or_else(|| score_pdf::PdfError::Sandbox {
                    reason: "the PDF sandbox answered without a page".to_owned(),
                })?;
            objects.put(&key, png.png, "image/png").await?;
            metrics::counter!("scoremate_page_previews_rendered_total").increment(1);
            // A score deleted while its page rendered: its cleanup may have run already.
            let now = state.services.scores.load(&score_id.to_string()).await?;
            if now.aggregate.status() != Some(ScoreStatus::Confirmed) {
                objects.delete(&key).await?;
                return Err(ApiError::not_found());
            }
        }
    }
    presigned_link(&state, &key, None, redirect.wanted()).await
}
