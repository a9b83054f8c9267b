//! Changing scores: confirming an upload (`POST /api/v1/scores`), editing the metadata
//! (`PATCH`), deleting (`DELETE`) — commands on the Score aggregate.

use aggregates::{
    Bytes, QuotaCommand, ReleaseReason, Score, ScoreCommand, ScoreError, ScoreMetadata,
    ScoreMetadataPatch, ScoreStatus, UploadId,
};
use chrono::Utc;
use eventstore::{CommandError, Committed};
use objectstore::{ObjectStoreError, upload_staging_key};
use serde_json::{Map, Value};
use warp::Reply;
use warp::http::{StatusCode, header};

use super::views::{ConfirmRequest, ScoreView};
use crate::http::authenticate::Principal;
use crate::http::endpoint::PathParams;
use crate::http::error::{ApiError, ErrorCode, Problem};
use crate::http::etag::IfMatch;
use crate::http::idempotency::IdempotencyKey;
use crate::http::openapi::{
    Authenticated, Conditional, IdempotencyKeyReused, JsonBody, NotJson, ObjectStoreFailed,
};
use crate::quota::quota_step;
use crate::state::AppState;

/// How many leading bytes may precede `%PDF-` (as PDF readers tolerate).
pub(super) const PDF_HEADER_WINDOW: u64 = 1024;

#[utoipa::path(
    patch, path = "/api/v1/scores/{id}", tag = "scores",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "The score"),
        IfMatch,
    ),
    request_body = ConfirmRequest,
    responses(
        (status = 200, description = "Changed (absent fields stay, `null` clears)", body = ScoreView),
        (status = 400, description = "Invalid fields (E007)", body = Problem, content_type = "application/problem+json"),
        Authenticated,
        (status = 404, description = "No such score of the caller (E003)", body = Problem, content_type = "application/problem+json"),
        Conditional,
        JsonBody,
    )
)]
pub async fn patch_score(
    state: AppState,
    principal: Principal,
    params: PathParams,
    if_match: Option<String>,
    mut body: Map<String, Value>,
) -> Result<warp::reply::Response, ApiError> {
    let score_id: UploadId = params.get(0).parse().map_err(|_| ApiError::not_found())?;
    body.values_mut()
        .for_each(crate::http::extract::normalize_whole_numbers);
    let patch: ScoreMetadataPatch = crate::http::extract::patch_from(body)?;
    let expected = if_match
        .as_deref()
        .map(crate::http::etag::parse_if_match)
        .transpose()?
        .flatten();
    let services = &state.services;
    let id = score_id.to_string();
    let update = ScoreCommand::UpdateScoreMetadata {
        user_id: principal.user_id,
        patch,
    };
    let metadata = principal.command_metadata();
    let committed = match expected {
        Some(version) => {
            services
                .scores
                .execute_at_version(&id, version, update, &metadata)
                .await?
        }
        None => services.scores.execute(&id, update, &metadata).await?,
    };
    let score = &committed.aggregate;
    let live =
        score.is_owned_by(principal.user_id) && score.status() == Some(ScoreStatus::Confirmed);
    if !live {
        return Err(ApiError::not_found());
    }
    let view = ScoreView::of(score, committed.version, metadata.occurred_at)
        .ok_or_else(ApiError::not_found)?;
    let response =
        crate::http::etag::with_etag(warp::reply::json(&view).into_response(), view.version);
    Ok(state.after_score_change(&committed, response).await)
}

#[utoipa::path(
    post, path = "/api/v1/scores", tag = "scores",
    security(("bearer" = [])),
    params(IdempotencyKey),
    request_body = ConfirmRequest,
    responses(
        (status = 201, description = "The upload is a score now; its bytes count as used", body = ScoreView),
        (status = 400, description = "Invalid fields (E007) or the bytes are not a PDF (E004; the upload ends)", body = Problem, content_type = "application/problem+json"),
        Authenticated,
        (status = 404, description = "No such upload of the caller (E003)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already confirmed, or another confirmation of the upload still running after 30 s (E008); or the object is missing or of another size (E012; PUT again and retry)", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The reservation expired (E013)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large (E007) or quota exceeded (E001)", body = Problem, content_type = "application/problem+json"),
        NotJson,
        IdempotencyKeyReused,
        ObjectStoreFailed,
    )
)]
pub async fn confirm_upload(
    state: AppState,
    principal: Principal,
    body: Map<String, Value>,
) -> Result<warp::reply::Response, ApiError> {
    let (upload_id, metadata) = ConfirmRequest::read(body)?.into_parts();

    // Taken before the upload's state is read: once a confirmation recorded its bytes, no
    // other one may copy over them (crate::upload_locks).
    let lock = state
        .services
        .upload_locks
        .lock(upload_id)
        .await
        .map_err(|error| ApiError::from(eventstore::StoreError::from(error)))?;
    let Some(lock) = lock else {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "Another request is still confirming this upload; try again.",
        ));
    };
    let confirmed = confirm_locked(&state, &principal, upload_id, metadata).await;
    lock.release().await;
    let (change, response) = confirmed?;
    Ok(state.after_score_change(&change, response).await)
}

/// Confirms `upload_id`, whose lock the caller holds: copies the staged bytes onto the
/// score's own key, verifies that copy and records it (docs/uploads.md, "Staging, copy and
/// sweep").
pub(super) async fn confirm_locked(
    state: &AppState,
    principal: &Principal,
    upload_id: UploadId,
    metadata: ScoreMetadata,
) -> Result<(Committed<Score>, warp::reply::Response), ApiError> {
    let services = &state.services;
    let id = upload_id.to_string();
    let loaded = services.scores.load(&id).await?;
    let score = loaded.aggregate;
    if !score.is_owned_by(principal.user_id) {
        return Err(ApiError::not_found());
    }
    let (Some(file), Some(status)) = (score.file().cloned(), score.status()) else {
        return Err(ApiError::not_found());
    };
    let now = Utc::now();
    match status {
        ScoreStatus::Requested if now >= file.expires_at => {
            return Err(ApiError::new(
                ErrorCode::UploadExpired,
                "The upload expired before confirmation.",
            ));
        }
        ScoreStatus::Requested => {}
        ScoreStatus::Confirmed => {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                "The upload is already confirmed.",
            ));
        }
        ScoreStatus::Expired => {
            return Err(ApiError::new(
                ErrorCode::UploadExpired,
                "The upload expired before confirmation.",
            ));
        }
        ScoreStatus::Cancelled | ScoreStatus::Rejected | ScoreStatus::Deleted => {
            return Err(ApiError::not_found());
        }
    }

    let objects = &services.objects;
    let staging_key = upload_staging_key(principal.user_id.into_uuid(), upload_id.into_uuid());
    let final_key = file.object_key.as_str();
    let not_uploaded = || {
        ApiError::new(
            ErrorCode::UploadIncomplete,
            "The file has not been uploaded yet; PUT it to the upload URL, then confirm again.",
        )
    };
    // Copy first, then verify the copy: the upload URL accepts PUTs until it expires, so
    // only bytes in the key no client can write are checked and recorded.
    match objects.copy(&staging_key, final_key).await {
        Ok(()) => {}
        Err(ObjectStoreError::NotFound { .. }) => return Err(not_uploaded()),
        Err(error) => return Err(error.into()),
    }
    // One GET tells the size, the entity tag, whether the bytes start a PDF and their
    // SHA-256, streamed (memory holds the first KiB and one chunk). Reading past the
    // declared size is pointless: such bytes are refused anyway.
    let read = match objects
        .read_hashed(final_key, PDF_HEADER_WINDOW, file.size_bytes.0)
        .await
    {
        Ok(Some(read)) => Ok(read),
        Ok(None) => return Err(not_uploaded()),
        Err(ObjectStoreError::TooLarge { size, .. }) => Err(size),
        Err(error) => return Err(error.into()),
    };
    let refusal = match &read {
        Ok(read) if read.head.size == file.size_bytes.0 => match &file.sha256 {
            Some(declared) if *declared != read.sha256 => Some(format!(
                "The uploaded file's SHA-256 is {}, {declared} was declared; PUT the declared file, then confirm.",
                read.sha256
            )),
            _ => None,
        },
        Ok(read) => Some(format!(
            "The uploaded file has {} bytes, {} were declared; PUT it again, then confirm.",
            read.head.size, file.size_bytes.0
        )),
        Err(size) => Some(format!(
            "The uploaded file has {} bytes, {} were declared; PUT it again, then confirm.",
            size.map_or_else(|| "more".to_owned(), |size| size.to_string()),
            file.size_bytes.0
        )),
    };
    if let Some(refusal) = refusal {
        // Wrong bytes are removed so that a fresh PUT starts clean; the upload stays open.
        objects.delete(final_key).await?;
        objects.delete(&staging_key).await?;
        return Err(ApiError::new(ErrorCode::UploadIncomplete, refusal));
    }
    let Ok(read) = read else {
        return Err(not_uploaded());
    };
    let (head, prefix) = (read.head, read.prefix);
    let events_metadata = principal.command_metadata();
    if !prefix.windows(5).any(|window| window == b"%PDF-") {
        reject_upload(state, principal, upload_id, &[final_key, &staging_key]).await?;
        return Err(ApiError::new(
            ErrorCode::InvalidFileType,
            "The uploaded file is not a PDF.",
        ));
    }

    let confirm = ScoreCommand::ConfirmUpload {
        user_id: principal.user_id,
        now,
        size_bytes: Bytes(head.size),
        etag: head.etag,
        sha256: Some(read.sha256),
        metadata,
    };
    let committed = match services
        .scores
        .execute(&id, confirm, &events_metadata)
        .await
    {
        Ok(committed) => committed,
        // Not recorded, e.g. the upload ended while this request copied (cancelled,
        // expired): its cleanup may have run before the copy, and the sweep only looks at
        // staging keys, so the copy is this request's to remove (a retry copies again).
        Err(CommandError::Rejected(rejection)) if rejection != ScoreError::AlreadyConfirmed => {
            if let Err(error) = objects.delete(final_key).await {
                tracing::warn!(%error, "deleting the copy of an unconfirmed upload failed");
            }
            return Err(CommandError::Rejected(rejection).into());
        }
        Err(error) => return Err(error.into()),
    };
    if state.settings.failpoint.as_deref() == Some("after-upload-confirmed") {
        // Dies at once, as under kill -9: pausing here would leave the quota saga, which
        // the commit just woke, time to confirm the bytes before the test's kill.
        tracing::warn!("failpoint after-upload-confirmed reached");
        std::process::abort();
    }
    // The quota saga does this too; here it makes `GET /quota` show the bytes at once.
    let confirm_quota = QuotaCommand::ConfirmQuota {
        upload_id,
        score_id: upload_id,
        actual_bytes: Bytes(head.size),
    };
    // Neither needs the other, so they run side by side.
    let (deleted, ()) = tokio::join!(
        objects.delete(&staging_key),
        quota_step(state, principal.user_id, confirm_quota, &events_metadata)
    );
    // The staged bytes are copied and recorded; should the DELETE fail, the upload sweep
    // deletes them.
    if let Err(error) = deleted {
        tracing::warn!(%error, "deleting a confirmed upload's staged bytes failed; the sweep will");
    }
    let view = ScoreView::of(&committed.aggregate, committed.version, now)
        .ok_or_else(ApiError::not_found)?;
    let mut response =
        warp::reply::with_status(warp::reply::json(&view), StatusCode::CREATED).into_response();
    if let Ok(etag) = header::HeaderValue::from_str(&format!("\"{}\"", view.version)) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    Ok((committed, response))
}

/// The bytes are not a PDF: the upload ends for good, its reservation and objects go.
/// The objects go whatever the command answers: such bytes are never confirmed, and an
/// upload that ended meanwhile may have been cleaned up before this request's copy.
pub(super) async fn reject_upload(
    state: &AppState,
    principal: &Principal,
    upload_id: UploadId,
    object_keys: &[&str],
) -> Result<(), ApiError> {
    let outcome = record_rejection(state, principal, upload_id).await;
    for key in object_keys {
        if let Err(error) = state.services.objects.delete(key).await {
            tracing::warn!(error = %error, "deleting a rejected object failed; object cleanup will");
        }
    }
    outcome
}

/// `RejectUpload`, then the reservation's release.
pub(super) async fn record_rejection(
    state: &AppState,
    principal: &Principal,
    upload_id: UploadId,
) -> Result<(), ApiError> {
    let services = &state.services;
    let metadata = principal.command_metadata();
    let reject = ScoreCommand::RejectUpload {
        reason: "the file does not start with %PDF-".to_owned(),
    };
    match services
        .scores
        .execute(&upload_id.to_string(), reject, &metadata)
        .await
    {
        Ok(_) => {}
        // The upload ended meanwhile (the expiry timer won the race): answer what it is now.
        Err(CommandError::Rejected(ScoreError::NotPending)) => {
            let score = services
                .scores
                .load(&upload_id.to_string())
                .await?
                .aggregate;
            return Err(match score.status() {
                Some(ScoreStatus::Expired) => ApiError::new(
                    ErrorCode::UploadExpired,
                    "The upload expired before confirmation.",
                ),
                _ => ApiError::not_found(),
            });
        }
        Err(error) => return Err(error.into()),
    }
    let release = QuotaCommand::ReleaseReservation {
        upload_id,
        reason: ReleaseReason::Rejected,
    };
    quota_step(state, principal.user_id, release, &metadata).await;
    Ok(())
}

#[utoipa::path(
    delete, path = "/api/v1/scores/{id}", tag = "scores",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The score")),
    responses(
        (status = 204, description = "Deleted; its bytes are freed at once, its file shortly after"),
        Authenticated,
        (status = 404, description = "No such score of the caller (E003)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete_score(
    state: AppState,
    principal: Principal,
    params: PathParams,
) -> Result<warp::reply::Response, ApiError> {
    let score_id: UploadId = params.get(0).parse().map_err(|_| ApiError::not_found())?;
    let services = &state.services;
    let metadata = principal.command_metadata();
    let delete = ScoreCommand::DeleteScore {
        user_id: principal.user_id,
    };
    let deleted = services
        .scores
        .execute(&score_id.to_string(), delete, &metadata)
        .await?;
    let release = QuotaCommand::ReleaseQuota { score_id };
    quota_step(&state, principal.user_id, release, &metadata).await;
    Ok(state
        .after_score_change(&deleted, StatusCode::NO_CONTENT.into_response())
        .await)
}
