//! What the processors learn from a score's file: PDF information and a thumbnail.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::validation::FieldErrors;

/// A step of the asynchronous processing of a confirmed score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcessingStage {
    /// Reading page count, page size and document info.
    PdfInfo,
    /// Rendering page 1 as a PNG.
    Thumbnail,
}

impl ProcessingStage {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PdfInfo => "pdf_info",
            Self::Thumbnail => "thumbnail",
        }
    }
}

impl fmt::Display for ProcessingStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a score's processing stands, as clients see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcessingStatus {
    /// Some step has neither succeeded nor failed yet.
    Pending,
    /// Every step succeeded: PDF info and thumbnail are both present.
    Ready,
    /// A step failed (and did not succeed later).
    Failed,
}

impl ProcessingStatus {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Ready => "ready",
            Self::Failed => "failed",
        }
    }
}

/// Facts read from the PDF. Page size is page 1 as a viewer shows it (crop box, then
/// `/Rotate`), in PDF points.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PdfInfo {
    pub page_count: u32,
    pub page_width_pt: f64,
    pub page_height_pt: f64,
    pub title: Option<String>,
    pub author: Option<String>,
    pub subject: Option<String>,
    pub keywords: Option<String>,
    pub encrypted: bool,
}

impl PdfInfo {
    /// A PDF has at least one page and a finite, positive page size. Non-finite sizes are
    /// refused also because JSON cannot store them: the event could never be read back.
    ///
    /// # Errors
    /// Every invalid field with its messages.
    pub fn validate(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::new();
        if self.page_count == 0 {
            errors.add("page_count", "must be at least 1");
        }
        for (field, value) in [
            ("page_width_pt", self.page_width_pt),
            ("page_height_pt", self.page_height_pt),
        ] {
            if !(value.is_finite() && value > 0.0) {
                errors.add(field, "must be a positive number");
            }
        }
        errors.into_result()
    }
}

/// The stored preview image of page 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thumbnail {
    pub object_key: String,
    pub width: u32,
    pub height: u32,
}

impl Thumbnail {
    /// # Errors
    /// Every invalid field with its messages.
    pub fn validate(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::new();
        if self.object_key.trim().is_empty() {
            errors.add("object_key", "must not be empty");
        }
        if self.width == 0 {
            errors.add("width", "must be at least 1");
        }
        if self.height == 0 {
            errors.add("height", "must be at least 1");
        }
        errors.into_result()
    }
}
