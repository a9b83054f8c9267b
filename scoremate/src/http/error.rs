//! The one error type of the HTTP API and its `application/problem+json` body (RFC 9457,
//! plus the `error`/`message`/`code` fields existing clients read). Every error any route
//! can produce ends here, including warp's own rejections (see `recover`).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

use serde::Serialize;
use utoipa::ToSchema;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reject::Rejection;

use crate::http::context::RequestContext;

/// The codes of DESIGN.md's error table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    QuotaExceeded,
    InvalidToken,
    NotFound,
    InvalidFileType,
    StorageError,
    Forbidden,
    ValidationError,
    Conflict,
    InvalidCredentials,
    RateLimited,
    PreconditionFailed,
    UploadIncomplete,
    UploadExpired,
    FileTooLarge,
    DuplicateUpload,
}

impl ErrorCode {
    pub fn code(self) -> &'static str {
        match self {
            Self::QuotaExceeded => "E001",
            Self::InvalidToken => "E002",
            Self::NotFound => "E003",
            Self::InvalidFileType => "E004",
            Self::StorageError => "E005",
            Self::Forbidden => "E006",
            Self::ValidationError => "E007",
            Self::Conflict => "E008",
            Self::InvalidCredentials => "E009",
            Self::RateLimited => "E010",
            Self::PreconditionFailed => "E011",
            Self::UploadIncomplete => "E012",
            Self::UploadExpired => "E013",
            Self::FileTooLarge => "E014",
            Self::DuplicateUpload => "E015",
        }
    }

    pub fn error(self) -> &'static str {
        match self {
            Self::QuotaExceeded => "QUOTA_EXCEEDED",
            Self::InvalidToken => "INVALID_TOKEN",
            Self::NotFound => "NOT_FOUND",
            Self::InvalidFileType => "INVALID_FILE_TYPE",
            Self::StorageError => "STORAGE_ERROR",
            Self::Forbidden => "FORBIDDEN",
            Self::ValidationError => "VALIDATION_ERROR",
            Self::Conflict => "CONFLICT",
            Self::InvalidCredentials => "INVALID_CREDENTIALS",
            Self::RateLimited => "RATE_LIMITED",
            Self::PreconditionFailed => "PRECONDITION_FAILED",
            Self::UploadIncomplete => "UPLOAD_INCOMPLETE",
            Self::UploadExpired => "UPLOAD_EXPIRED",
            Self::FileTooLarge => "FILE_TOO_LARGE",
            Self::DuplicateUpload => "DUPLICATE_UPLOAD",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            Self::QuotaExceeded | Self::FileTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::InvalidToken | Self::InvalidCredentials => StatusCode::UNAUTHORIZED,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::InvalidFileType | Self::ValidationError => StatusCode::BAD_REQUEST,
            Self::StorageError => StatusCode::BAD_GATEWAY,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::Conflict | Self::UploadIncomplete | Self::DuplicateUpload => StatusCode::CONFLICT,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::UploadExpired => StatusCode::GONE,
        }
    }

    fn title(self) -> &'static str {
        match self {
            Self::QuotaExceeded => "Storage quota exceeded",
            Self::InvalidToken => "Invalid token",
            Self::NotFound => "Not found",
            Self::InvalidFileType => "Invalid file type",
            Self::StorageError => "Storage error",
            Self::Forbidden => "Forbidden",
            Self::ValidationError => "Validation error",
            Self::Conflict => "Conflict",
            Self::InvalidCredentials => "Invalid credentials",
            Self::RateLimited => "Too many requests",
            Self::PreconditionFailed => "Precondition failed",
            Self::UploadIncomplete => "Upload incomplete",
            Self::UploadExpired => "Upload expired",
            Self::FileTooLarge => "File too large",
            Self::DuplicateUpload => "Duplicate upload",
        }
    }
}

/// Field name → messages, every bad field at once.
pub type FieldMessages = BTreeMap<String, Vec<String>>;

/// An error answered to the client. Handlers return `Result<impl Reply, ApiError>`.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    /// Overrides the status of `code` (405, 413, 415 are validation-shaped errors with
    /// their own status).
    pub status: StatusCode,
    pub message: String,
    pub fields: Option<FieldMessages>,
    pub retry_after: Option<Duration>,
    pub extra_headers: Vec<(header::HeaderName, HeaderValue)>,
    /// The caller's score holding the same bytes (E015). Boxed: every handler returns
    /// this type, so it stays small.
    pub existing_score_id: Option<Box<str>>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            status: code.status(),
            message: message.into(),
            fields: None,
            retry_after: None,
            extra_headers: Vec::new(),
            existing_score_id: None,
        }
    }

    pub fn validation(fields: FieldMessages) -> Self {
        Self {
            fields: Some(fields),
            ..Self::new(ErrorCode::ValidationError, "Some fields are invalid.")
        }
    }

    /// E007 naming one field and what is wrong with it.
    pub fn invalid_field(field: &str, message: &str) -> Self {
        let mut fields = FieldMessages::new();
        fields.insert(field.to_owned(), vec![message.to_owned()]);
        Self::validation(fields)
    }

    pub fn not_found() -> Self {
        Self::new(ErrorCode::NotFound, "No such resource.")
    }

    pub fn invalid_token() -> Self {
        Self::new(
            ErrorCode::InvalidToken,
            "The token is missing, malformed, expired or revoked.",
        )
    }

    /// A failure that is ours, not the client's: the cause is logged here, once, and the
    /// body says nothing about it.
    pub fn internal(error: &(dyn std::error::Error + 'static)) -> Self {
        tracing::error!(error = %DisplayChain(error), "internal error");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            ..Self::new(
                ErrorCode::StorageError,
                "The server failed to handle the request.",
            )
        }
    }

    #[must_use]
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }
}

/// `error: source: source…` on one line.
pub struct DisplayChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for DisplayChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(error) = source {
            write!(f, ": {error}")?;
            source = error.source();
        }
        Ok(())
    }
}

/// The problem+json body.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Machine-readable error name, e.g. `QUOTA_EXCEEDED`.
    pub error: String,
    /// The same as `detail`, for existing clients.
    pub message: String,
    /// `E001` … `E015`.
    pub code: String,
    pub request_id: String,
    /// Field → messages, for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<FieldMessages>,
    /// For `DUPLICATE_UPLOAD` (E015): the caller's live score with the same SHA-256.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub existing_score_id: Option<String>,
}

impl warp::Reply for ApiError {
    fn into_response(self) -> warp::reply::Response {
        let problem = Problem {
            problem_type: format!(
                "https://scoremate.dev/problems/{}",
                self.code.error().to_lowercase().replace('_', "-")
            ),
            title: self.code.title().to_owned(),
            status: self.status.as_u16(),
            detail: self.message.clone(),
            error: self.code.error().to_owned(),
            message: self.message,
            code: self.code.code().to_owned(),
            request_id: RequestContext::current_request_id(),
            fields: self.fields,
            existing_score_id: self.existing_score_id.map(String::from),
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = warp::reply::Response::new(body.into());
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(retry_after) = self.retry_after {
            let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        for (name, value) in self.extra_headers {
            headers.insert(name, value);
        }
        response
    }
}

impl warp::reject::Reject for ApiError {}

/// Turns every rejection — ours and warp's — into the problem shape.
pub async fn recover(rejection: Rejection) -> Result<ApiError, Infallible> {
    tracing::debug!(?rejection, "recovering");
    use warp::reject::{
        InvalidHeader, LengthRequired, MethodNotAllowed, MissingHeader, PayloadTooLarge,
        UnsupportedMediaType,
    };
    let error = if let Some(error) = rejection.find::<ApiError>() {
        error.clone()
    } else if rejection.find::<PayloadTooLarge>().is_some() {
        // Before the method checks: a route whose path and method matched read the body
        // and refused its size, so the other routes' "wrong method" says nothing. The
        // body stays unread, so the connection cannot carry another request: say so, or a
        // client would send its next request into a closing socket.
        let mut error = ApiError::new(ErrorCode::ValidationError, "The request body is too large.")
            .with_status(StatusCode::PAYLOAD_TOO_LARGE);
        error
            .extra_headers
            .push((header::CONNECTION, HeaderValue::from_static("close")));
        error
    } else if rejection.find::<LengthRequired>().is_some() {
        ApiError::new(
            ErrorCode::ValidationError,
            "A Content-Length header is required.",
        )
        .with_status(StatusCode::LENGTH_REQUIRED)
    } else if let Some(wrong) = rejection.find::<crate::http::endpoint::WrongMethod>() {
        let mut error = ApiError::new(
            ErrorCode::ValidationError,
            "This method is not allowed on this route.",
        )
        .with_status(StatusCode::METHOD_NOT_ALLOWED);
        if let Ok(allow) = HeaderValue::from_str(&wrong.allowed()) {
            error.extra_headers.push((header::ALLOW, allow));
        }
        error
    } else if rejection.find::<MethodNotAllowed>().is_some() {
        ApiError::new(
            ErrorCode::ValidationError,
            "This method is not allowed on this route.",
        )
        .with_status(StatusCode::METHOD_NOT_ALLOWED)
    } else if rejection.is_not_found() {
        ApiError::new(ErrorCode::NotFound, "No such route.")
    } else if rejection.find::<UnsupportedMediaType>().is_some() {
        ApiError::new(
            ErrorCode::ValidationError,
            "The body must be application/json.",
        )
        .with_status(StatusCode::UNSUPPORTED_MEDIA_TYPE)
    } else if let Some(error) = rejection.find::<InvalidHeader>() {
        ApiError::new(
            ErrorCode::ValidationError,
            format!("Invalid header: {}.", error.name()),
        )
    } else if let Some(error) = rejection.find::<MissingHeader>() {
        ApiError::new(
            ErrorCode::ValidationError,
            format!("Missing header: {}.", error.name()),
        )
    } else if rejection.find::<warp::reject::InvalidQuery>().is_some() {
        ApiError::new(ErrorCode::ValidationError, "Invalid query string.")
    } else {
        tracing::error!(?rejection, "unhandled rejection");
        ApiError::new(
            ErrorCode::StorageError,
            "The server failed to handle the request.",
        )
        .with_status(StatusCode::INTERNAL_SERVER_ERROR)
    };
    Ok(error)
}

/// Domain and storage errors → API errors: one exhaustive match per error type, no
/// catch-all arm, so a new variant forces a decision here.
pub mod mapping {
    use aggregates::{AccountError, QuotaError, ScoreError, SessionError, SetlistError};
    use eventstore::{CommandError, StoreError};
    use objectstore::ObjectStoreError;

    use super::{ApiError, ErrorCode};

    impl From<AccountError> for ApiError {
        fn from(error: AccountError) -> Self {
            match error {
                AccountError::AlreadyRegistered => {
                    Self::new(ErrorCode::Conflict, "The account is already registered.")
                }
                AccountError::NotRegistered => Self::not_found(),
                AccountError::InvalidDisplayName => {
                    Self::invalid_field("display_name", &error.to_string())
                }
            }
        }
    }

    impl From<SessionError> for ApiError {
        fn from(error: SessionError) -> Self {
            match error {
                // Every way a session cannot serve a token is, to the client, an invalid token.
                SessionError::NotStarted
                | SessionError::Revoked
                | SessionError::Expired
                | SessionError::UnknownRefreshToken => Self::invalid_token(),
                // Server-minted ids collided or a session id was reused: our fault.
                SessionError::AlreadyStarted | SessionError::NextTokenIdNotFresh => {
                    Self::internal(&error)
                }
            }
        }
    }

    impl From<QuotaError> for ApiError {
        fn from(error: QuotaError) -> Self {
            let message = error.to_string();
            match error {
                QuotaError::QuotaExceeded {
                    available,
                    requested,
                } => Self::new(
                    ErrorCode::QuotaExceeded,
                    format!(
                        "Not enough storage left: this file needs {}, but only {} of your \
                         quota is free. Delete some scores to make room.",
                        readable_size(requested.0),
                        readable_size(available.0),
                    ),
                ),
                QuotaError::EmptyReservation => Self::invalid_field("size", &message),
                QuotaError::UnknownReservation { .. } | QuotaError::UnknownScore { .. } => {
                    Self::not_found()
                }
                QuotaError::DuplicateReservation { .. }
                | QuotaError::ReservationReleased { .. }
                | QuotaError::ReservationConfirmed { .. }
                | QuotaError::ScoreAlreadyConfirmed { .. } => {
                    Self::new(ErrorCode::Conflict, message)
                }
            }
        }
    }

    /// A size as the web page shows it (units of 1024, as the default quota of 1 GB is):
    /// `19.1 MB`.
    fn readable_size(bytes: u64) -> String {
        const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
        if bytes < 1024 {
            return format!("{bytes} bytes");
        }
        // Display only: the precision of f64 is ample for one decimal.
        #[allow(clippy::cast_precision_loss)]
        let mut value = bytes as f64 / 1024.0;
        let mut unit = 0;
        while value >= 1023.95 && unit + 1 < UNITS.len() {
            value /= 1024.0;
            unit += 1;
        }
        format!("{value:.1} {}", UNITS[unit])
    }

    impl From<ScoreError> for ApiError {
        fn from(error: ScoreError) -> Self {
            let message = error.to_string();
            match error {
                // A score that is not (or no longer) a live score of the caller is invisible.
                ScoreError::NotFound | ScoreError::NotConfirmed => Self::not_found(),
                ScoreError::AlreadyRequested
                | ScoreError::AlreadyConfirmed
                | ScoreError::NotPending
                | ScoreError::NotYetExpired => Self::new(ErrorCode::Conflict, message),
                ScoreError::UploadExpired => Self::new(ErrorCode::UploadExpired, message),
                ScoreError::SizeMismatch { .. } | ScoreError::ChecksumMismatch { .. } => {
                    Self::new(ErrorCode::UploadIncomplete, message)
                }
                ScoreError::InvalidMetadata(fields) | ScoreError::InvalidBookmark(fields) => {
                    Self::validation(fields.0)
                }
                ScoreError::InvalidProcessingResult(_) => Self::internal(&error),
                ScoreError::BookmarkNotFound => Self::not_found(),
                ScoreError::BookmarkExists | ScoreError::TooManyBookmarks => {
                    Self::new(ErrorCode::Conflict, message)
                }
            }
        }
    }

    impl From<SetlistError> for ApiError {
        fn from(error: SetlistError) -> Self {
            let message = error.to_string();
            let field = |name: &str| Self::invalid_field(name, &message);
            match error {
                SetlistError::NotFound | SetlistError::ItemNotFound { .. } => Self::not_found(),
                // Ids are minted by the server: a collision is ours.
                SetlistError::AlreadyCreated | SetlistError::DuplicateItemId { .. } => {
                    Self::internal(&error)
                }
                SetlistError::InvalidDetails(fields) => Self::validation(fields.0),
                SetlistError::InvalidPosition { .. } => field("position"),
                SetlistError::NotAPermutation => field("item_ids"),
            }
        }
    }

    impl From<ObjectStoreError> for ApiError {
        fn from(error: ObjectStoreError) -> Self {
            tracing::error!(error = %super::DisplayChain(&error), "object store failed");
            Self::new(
                ErrorCode::StorageError,
                "The object store failed; try again.",
            )
        }
    }

    impl From<crate::preview_renders::Refused> for ApiError {
        fn from(refused: crate::preview_renders::Refused) -> Self {
            Self {
                retry_after: Some(std::time::Duration::from_secs(1)),
                ..Self::new(
                    ErrorCode::RateLimited,
                    format!("{refused}; try again shortly."),
                )
            }
        }
    }

    impl From<score_pdf::PdfError> for ApiError {
        fn from(error: score_pdf::PdfError) -> Self {
            if error.is_permanent() {
                // The file's own fault: it stays so, as its processing failure did.
                Self::new(
                    ErrorCode::InvalidFileType,
                    format!(
                        "This page of the file cannot be rendered: {}.",
                        error.reason()
                    ),
                )
            } else {
                tracing::error!(error = %error.reason(), "the PDF sandbox failed");
                Self::new(
                    ErrorCode::StorageError,
                    "The page could not be rendered now; try again.",
                )
            }
        }
    }

    impl From<audit::AuditError> for ApiError {
        fn from(error: audit::AuditError) -> Self {
            Self::internal(&error)
        }
    }

    impl From<StoreError> for ApiError {
        fn from(error: StoreError) -> Self {
            Self::internal(&error)
        }
    }

    impl<E> From<CommandError<E>> for ApiError
    where
        E: std::error::Error + Into<Self>,
    {
        fn from(error: CommandError<E>) -> Self {
            match error {
                CommandError::Rejected(rejection) => rejection.into(),
                CommandError::Conflict { .. } => Self::new(
                    ErrorCode::Conflict,
                    "A concurrent change won; reload and try again.",
                ),
                CommandError::VersionMismatch { .. } => Self::new(
                    ErrorCode::PreconditionFailed,
                    "If-Match does not match the current version.",
                ),
                CommandError::Store(store) => store.into(),
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::readable_size;

        #[test]
        fn sizes_read_as_the_web_page_shows_them() {
            assert_eq!(readable_size(1023), "1023 bytes");
            assert_eq!(readable_size(20_000_001), "19.1 MB");
            assert_eq!(readable_size(1_073_741_824), "1.0 GB");
            assert_eq!(readable_size(1_048_570), "1.0 MB");
        }
    }
}
