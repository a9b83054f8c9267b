//! `POST /api/v1/files/upload-url` and `DELETE /api/v1/files/uploads/{id}`: reserving quota
//! and handing out a presigned PUT straight to the object store.

use std::collections::BTreeMap;

use aggregates::validation::is_sha256_hex;
use aggregates::{Bytes, QuotaCommand, ReleaseReason, ScoreCommand, UploadId};
use chrono::Utc;
use eventstore::CommandError;
use objectstore::{score_object_key, upload_staging_key};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;
use warp::http::{Method, StatusCode};
use warp::{Filter, Rejection, Reply};

use crate::http::authenticate::{Principal, authenticated};
use crate::http::endpoint::{PathParams, endpoint};
use crate::http::error::{ApiError, ErrorCode, Problem};
use crate::http::extract::Fields;
use crate::http::idempotency::IdempotencyKey;
use crate::http::openapi::{Authenticated, IdempotencyKeyReused, NotJson, ObjectStoreFailed};
use crate::http::reply::into_reply;
use crate::quota::{quota_step, quota_with_limit};
use crate::routes::scores::library::live_score_with_hash;
use crate::state::AppState;

/// MIME types a score may have.
pub const ALLOWED_MIME_TYPES: &[&str] = &["application/pdf"];
const MAX_FILENAME_CHARS: usize = 255;

/// Where and how to PUT the file.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadUrl {
    pub upload_id: Uuid,
    pub upload_url: String,
    /// Always `PUT`.
    pub method: String,
    /// Send exactly these headers with the PUT (they are signed).
    pub headers: BTreeMap<String, String>,
    pub expires_at: chrono::DateTime<Utc>,
}

#[derive(Debug, ToSchema)]
pub struct UploadUrlRequest {
    /// Shown to the user; never used as a storage path.
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = "^[^/\\\\\\x00-\\x1f\\x7f-\\x9f]+$"
    )]
    filename: String,
    /// Exact size in bytes, at most `SCOREMATE_MAX_UPLOAD_BYTES` (default shown; more is E014).
    #[schema(minimum = 1, maximum = 104_857_600)]
    size: u64,
    /// `application/pdf` (anything else is E004).
    #[schema(pattern = "^application/pdf$")]
    mime_type: String,
    /// Lowercase hex SHA-256 of the file. The confirmation refuses other bytes (E012), and
    /// a file the caller already has as a live score is refused here (E015) unless
    /// `on_duplicate` is `allow`.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    sha256: Option<String>,
    /// `reject` (default): a `sha256` equal to one of the caller's live scores answers 409
    /// E015 naming it, and reserves nothing; `allow`: upload it again as another score.
    #[schema(pattern = "^(reject|allow)$")]
    on_duplicate: Option<String>,
}

impl UploadUrlRequest {
    /// Every invalid field at once (E007), then the MIME type (E004) and the size against
    /// `max_upload` (E014).
    fn read(mut body: Map<String, Value>, max_upload: u64) -> Result<Self, ApiError> {
        let size = body.remove("size");
        let mut fields = Fields::new(body);
        let filename = fields.required_string("filename");
        let mime_type = fields.required_string("mime_type");
        let sha256 = fields.optional_string("sha256");
        let on_duplicate = fields.optional_string("on_duplicate");
        let size = match size {
            Some(Value::Number(number)) => match crate::http::extract::whole_number(&number) {
                Some(size) if size >= 1 => Some(size),
                _ => {
                    fields.error("size", "Must be a whole number of bytes, at least 1.");
                    None
                }
            },
            None | Some(Value::Null) => {
                fields.error("size", "This field is required.");
                None
            }
            Some(_) => {
                fields.error("size", "Must be a whole number of bytes, at least 1.");
                None
            }
        };
        if let Some(name) = &filename {
            let length = name.chars().count();
            if length == 0 || length > MAX_FILENAME_CHARS {
                fields.error(
                    "filename",
                    format!("Must be 1 to {MAX_FILENAME_CHARS} characters."),
                );
            }
            if name
                .chars()
                .any(|c| objectstore::is_disguising_char(c) || c == '/' || c == '\\')
            {
                fields.error(
                    "filename",
                    "Must not contain slashes, control characters or bidirectional-text controls.",
                );
            }
        }
        if let Some(hash) = &sha256
            && !is_sha256_hex(hash)
        {
            fields.error("sha256", "Must be 64 lowercase hexadecimal characters.");
        }
        if let Some(choice) = &on_duplicate
            && !matches!(choice.as_str(), "reject" | "allow")
        {
            fields.error("on_duplicate", "One of reject, allow.");
        }
        fields.finish()?;
        let (Some(filename), Some(mime_type), Some(size)) = (filename, mime_type, size) else {
            return Err(ApiError::new(
                ErrorCode::ValidationError,
                "Some fields are invalid.",
            ));
        };
        if !ALLOWED_MIME_TYPES.contains(&mime_type.as_str()) {
            return Err(ApiError::new(
                ErrorCode::InvalidFileType,
                format!(
                    "Only {} files can be uploaded.",
                    ALLOWED_MIME_TYPES.join(", ")
                ),
            ));
        }
        if size > max_upload {
            return Err(ApiError::new(
                ErrorCode::FileTooLarge,
                format!("Files may be at most {max_upload} bytes."),
            ));
        }
        Ok(Self {
            filename,
            size,
            mime_type,
            sha256,
            on_duplicate,
        })
    }
}

pub fn routes(
    state: &AppState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone + use<> {
    let with_state = state.each_request();
    let create = crate::http::idempotency::post(
        state.clone(),
        state.database.clone(),
        state.authenticator(),
        "/api/v1/files/upload-url",
        create_upload_url,
    );
    let cancel = endpoint(Method::DELETE, "/api/v1/files/uploads/{upload_id}")
        .and(with_state)
        .and(authenticated(state.authenticator()))
        .then(|params, state, principal| cancel_upload(state, principal, params))
        .map(into_reply);
    create.or(cancel).unify()
}

#[utoipa::path(
    post, path = "/api/v1/files/upload-url", tag = "files",
    security(("bearer" = [])),
    params(IdempotencyKey),
    request_body = UploadUrlRequest,
    responses(
        (status = 201, description = "Quota reserved; PUT the file to `upload_url` with `headers` before `expires_at`", body = UploadUrl),
        (status = 400, description = "Invalid fields (E007) or MIME type not allowed (E004)", body = Problem, content_type = "application/problem+json"),
        Authenticated,
        (status = 409, description = "The caller already has a live score with this `sha256` (E015, its id in `existing_score_id`); nothing reserved", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Quota exceeded (E001), file above the maximum (E014) or body too large (E007)", body = Problem, content_type = "application/problem+json"),
        NotJson,
        IdempotencyKeyReused,
        ObjectStoreFailed,
    )
)]
pub async fn create_upload_url(
    state: AppState,
    principal: Principal,
    body: Map<String, Value>,
) -> Result<warp::reply::Response, ApiError> {
    let UploadUrlRequest {
        filename,
        size,
        mime_type,
        sha256,
        on_duplicate,
    } = UploadUrlRequest::read(body, state.settings.max_upload_bytes)?;

    let services = &state.services;
    let user = principal.user_id;
    if let Some(sha256) = &sha256
        && on_duplicate.as_deref() != Some("allow")
        && let Some(existing) =
            live_score_with_hash(&state.database, &user.to_string(), sha256).await?
    {
        let mut refusal = ApiError::new(
            ErrorCode::DuplicateUpload,
            format!(
                "You already have this file as score {existing}; upload it again with on_duplicate=allow to keep both."
            ),
        );
        refusal.existing_score_id = Some(existing.into_boxed_str());
        return Err(refusal);
    }
    let upload_id = UploadId::from_uuid(Uuid::now_v7());
    let ttl = state.settings.upload_url_ttl();
    let expires_at =
        Utc::now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::minutes(5));
    let metadata = principal.command_metadata();
    let reserve = QuotaCommand::ReserveQuota {
        upload_id,
        bytes: Bytes(size),
        expires_at,
    };
    let quota_id = user.to_string();
    match services.quotas.execute(&quota_id, reserve, &metadata).await {
        Ok(_) => {}
        // A quota without a limit (registration could not set it) gets the default one
        // here; looked at only on a refusal, so the usual request loads the quota once.
        Err(CommandError::Rejected(_)) if quota_with_limit(&state, user).await?.1 => {
            services
                .quotas
                .execute(&quota_id, reserve, &metadata)
                .await?;
        }
        Err(error) => return Err(error.into()),
    }
    // From here a failure leaves a reservation without an upload: it expires like any other.
    let request = ScoreCommand::RequestUpload {
        upload_id,
        owner: user,
        filename,
        size_bytes: Bytes(size),
        mime_type: mime_type.clone(),
        sha256,
        // Where the bytes go once confirmed; no client ever gets a URL for it.
        object_key: score_object_key(user.into_uuid(), upload_id.into_uuid()),
        expires_at,
    };
    services
        .scores
        .execute_new(&upload_id.to_string(), request, &metadata)
        .await?;
    // The client writes to the staging key only: the URL stays valid until its TTL,
    // whatever happens to the upload (docs/uploads.md, "Staging, copy and sweep").
    let staging_key = upload_staging_key(user.into_uuid(), upload_id.into_uuid());
    let presigned = services
        .objects
        .presign_put(&staging_key, &mime_type, size, ttl)
        .await?;
    let answer = UploadUrl {
        upload_id: upload_id.into_uuid(),
        upload_url: presigned.url,
        method: presigned.method,
        headers: presigned.headers,
        expires_at,
    };
    Ok(warp::reply::with_status(warp::reply::json(&answer), StatusCode::CREATED).into_response())
}

#[utoipa::path(
    delete, path = "/api/v1/files/uploads/{upload_id}", tag = "files",
    security(("bearer" = [])),
    params(("upload_id" = Uuid, Path, description = "The upload to cancel")),
    responses(
        (status = 204, description = "Cancelled; its reservation is freed"),
        Authenticated,
        (status = 404, description = "No such upload of the caller (E003)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already confirmed (E008)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn cancel_upload(
    state: AppState,
    principal: Principal,
    params: PathParams,
) -> Result<warp::reply::Response, ApiError> {
    let upload_id: UploadId = params.get(0).parse().map_err(|_| ApiError::not_found())?;
    let services = &state.services;
    let metadata = principal.command_metadata();
    let cancel = ScoreCommand::CancelUpload {
        user_id: principal.user_id,
    };
    services
        .scores
        .execute(&upload_id.to_string(), cancel, &metadata)
        .await?;
    // The quota saga does this too; doing it here makes the freed bytes visible at once.
    let release = QuotaCommand::ReleaseReservation {
        upload_id,
        reason: ReleaseReason::Cancelled,
    };
    quota_step(&state, principal.user_id, release, &metadata).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}
