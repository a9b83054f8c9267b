//! Why a PDF could not be processed, in words a musician can read.

use serde::{Deserialize, Serialize};

/// A failure to process one PDF. Its `Display` is a complete, readable sentence that
/// does not depend on the processing stage, fit for `ProcessingFailed { reason }`.
///
/// Every variant but [`PdfError::Sandbox`] is permanent: the same bytes fail again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PdfError {
    /// The file is larger than the input limit.
    #[error("the file is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge { size: u64, limit: u64 },
    /// The bytes are not a PDF at all (no `%PDF-` header).
    #[error("not a PDF: {reason}")]
    NotPdf { reason: String },
    /// A PDF so damaged that it cannot be read, even after repair.
    #[error("the PDF cannot be read: {reason}")]
    Malformed { reason: String },
    /// The PDF is locked by a user password: it cannot be opened without it.
    #[error("the PDF is locked by a password; remove the password and upload it again")]
    PasswordProtected,
    /// The PDF uses a feature that is not supported (e.g. certificate encryption).
    #[error("the PDF uses an unsupported feature: {reason}")]
    Unsupported { reason: String },
    /// The PDF breaks a processing limit (size, nesting, decompression, pixels, CPU, memory).
    #[error("the PDF exceeds a processing limit: {reason}")]
    LimitExceeded { reason: String },
    /// Processing took longer than the wall-clock limit.
    #[error("processing the PDF timed out after {seconds} s")]
    TimedOut { seconds: u64 },
    /// A parser or the renderer crashed on this file.
    #[error("processing the PDF crashed: {reason}")]
    Crashed { reason: String },
    /// Page 1 could not be rendered or encoded.
    #[error("the first page could not be rendered: {reason}")]
    Render { reason: String },
    /// The caller asked for something impossible (e.g. a 0 px wide thumbnail).
    #[error("invalid request: {reason}")]
    InvalidRequest { reason: String },
    /// The sandbox itself failed (the child could not be started, or broke the
    /// protocol): nothing is known about the file, so trying again may work.
    #[error("the PDF sandbox failed: {reason}")]
    Sandbox { reason: String },
}

impl PdfError {
    /// Whether processing the same bytes again would fail the same way. Only a failure
    /// of the sandbox machinery itself is transient.
    pub fn is_permanent(&self) -> bool {
        !matches!(self, Self::Sandbox { .. })
    }

    /// The readable reason, as recorded in `ProcessingFailed { reason }`.
    pub fn reason(&self) -> String {
        self.to_string()
    }

    pub(crate) fn malformed(reason: impl Into<String>) -> Self {
        Self::Malformed {
            reason: reason.into(),
        }
    }

    pub(crate) fn limit(reason: impl Into<String>) -> Self {
        Self::LimitExceeded {
            reason: reason.into(),
        }
    }
}

/// Describes a lopdf failure in words; decompression bombs become limit failures.
pub(crate) fn from_lopdf(error: &lopdf::Error, max_decompressed: u64) -> PdfError {
    match error {
        lopdf::Error::Decompress(lopdf::DecompressError::MemoryLimitExceeded { .. }) => {
            PdfError::limit(format!(
                "a stream decompresses to more than {max_decompressed} bytes"
            ))
        }
        lopdf::Error::InvalidPassword => PdfError::PasswordProtected,
        lopdf::Error::Parse(parse) => PdfError::malformed(parse.to_string()),
        other => PdfError::malformed(other.to_string()),
    }
}
