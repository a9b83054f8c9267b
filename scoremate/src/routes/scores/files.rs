//! A score's file and thumbnail, through short-lived presigned GETs (page previews, which
//! may need rendering first, are `previews`).

use aggregates::{Score, ScoreStatus, UploadId};
use objectstore::content_disposition_attachment;
use utoipa::IntoParams;
use warp::Reply;
use warp::http::{StatusCode, header};

use super::views::DownloadUrl;
use crate::http::authenticate::Principal;
use crate::http::endpoint::PathParams;
use crate::http::error::{ApiError, Problem};
use crate::http::openapi::{Authenticated, ObjectStoreFailed};
use crate::state::AppState;

/// Lifetime of a download link.
pub(super) const DOWNLOAD_URL_TTL: std::time::Duration = std::time::Duration::from_secs(300);

/// Whether a link answers as a redirect (the default) or as JSON.
#[derive(Debug, serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RedirectQuery {
    /// `false` answers the link as JSON instead of redirecting
    #[param(value_type = Option<bool>)]
    pub redirect: Option<String>,
}

impl RedirectQuery {
    /// Whether to answer with a redirect (anything but `redirect=false`).
    pub fn wanted(&self) -> bool {
        self.redirect.as_deref() != Some("false")
    }
}

#[utoipa::path(
    get, path = "/api/v1/scores/{id}/file", tag = "scores",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "The score"),
        RedirectQuery,
    ),
    responses(
        (status = 200, description = "With `redirect=false`: the presigned link", body = DownloadUrl),
        (status = 302, description = "Redirect to a short-lived presigned GET of the original file"),
        (status = 400, description = "Malformed query (E007)", body = Problem, content_type = "application/problem+json"),
        Authenticated,
        (status = 404, description = "No such score of the caller (E003)", body = Problem, content_type = "application/problem+json"),
        ObjectStoreFailed,
    )
)]
pub async fn download(
    state: AppState,
    principal: Principal,
    params: PathParams,
    redirect: bool,
) -> Result<warp::reply::Response, ApiError> {
    link_to(state, principal, params, redirect, StoredObject::File).await
}

#[utoipa::path(
    get, path = "/api/v1/scores/{id}/thumbnail", tag = "scores",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "The score"),
        RedirectQuery,
    ),
    responses(
        (status = 200, description = "With `redirect=false`: the presigned link", body = DownloadUrl),
        (status = 302, description = "Redirect to a short-lived presigned GET of the PNG thumbnail (page 1, 300 px wide)"),
        (status = 400, description = "Malformed query (E007)", body = Problem, content_type = "application/problem+json"),
        Authenticated,
        (status = 404, description = "No such score of the caller, or no thumbnail yet (E003)", body = Problem, content_type = "application/problem+json"),
        ObjectStoreFailed,
    )
)]
pub async fn thumbnail(
    state: AppState,
    principal: Principal,
    params: PathParams,
    redirect: bool,
) -> Result<warp::reply::Response, ApiError> {
    link_to(state, principal, params, redirect, StoredObject::Thumbnail).await
}

/// Which of a score's stored objects a link is for.
#[derive(Clone, Copy)]
pub(super) enum StoredObject {
    File,
    Thumbnail,
}

/// A presigned GET of one of the caller's live score's objects: a redirect, or the link.
pub(super) async fn link_to(
    state: AppState,
    principal: Principal,
    params: PathParams,
    redirect: bool,
    object: StoredObject,
) -> Result<warp::reply::Response, ApiError> {
    let score_id: UploadId = params.get(0).parse().map_err(|_| ApiError::not_found())?;
    let score = callers_live_score(&state, &principal, score_id).await?;
    let (key, disposition) = match object {
        StoredObject::File => {
            let file = score.file().ok_or_else(ApiError::not_found)?;
            (
                file.object_key.clone(),
                Some(content_disposition_attachment(&file.filename)),
            )
        }
        // 404 until the thumbnail processor has stored it.
        StoredObject::Thumbnail => (
            score
                .thumbnail_object_key()
                .ok_or_else(ApiError::not_found)?
                .to_owned(),
            None,
        ),
    };
    presigned_link(&state, &key, disposition, redirect).await
}

/// The caller's live (confirmed, not deleted) score, from the aggregate itself — a score
/// confirmed a moment ago is there — or 404: another user's score does not exist for them.
pub(crate) async fn callers_live_score(
    state: &AppState,
    principal: &Principal,
    score_id: UploadId,
) -> Result<Score, ApiError> {
    let score = state
        .services
        .scores
        .load(&score_id.to_string())
        .await?
        .aggregate;
    if score.is_owned_by(principal.user_id) && score.status() == Some(ScoreStatus::Confirmed) {
        Ok(score)
    } else {
        Err(ApiError::not_found())
    }
}

/// A presigned GET of `key`: a redirect to it, or the link as JSON.
pub(super) async fn presigned_link(
    state: &AppState,
    key: &str,
    disposition: Option<String>,
    redirect: bool,
) -> Result<warp::reply::Response, ApiError> {
    let presigned = state
        .services
        .objects
        .presign_get(key, DOWNLOAD_URL_TTL, disposition)
        .await?;
    if redirect {
        let mut response = StatusCode::FOUND.into_response();
        let location = header::HeaderValue::from_str(&presigned.url)
            .map_err(|error| ApiError::internal(&error))?;
        response.headers_mut().insert(header::LOCATION, location);
        Ok(response)
    } else {
        let link = DownloadUrl {
            url: presigned.url,
            expires_at: presigned.expires_at,
        };
        Ok(warp::reply::json(&link).into_response())
    }
}
