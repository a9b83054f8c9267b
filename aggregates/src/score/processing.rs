//! What the processors learn from a score's file: PDF information and a thumbnail.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::metadata::{MAX_LIST_ENTRIES, MAX_LIST_ENTRY_CHARS, MAX_TEXT_CHARS, MAX_TITLE_CHARS};

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
    /// The Dublin Core facts of the XMP metadata packet, when it has any (since 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xmp: Option<PdfXmp>,
}

/// What a PDF's XMP packet says about the work (`dc:title`, `dc:creator`, `dc:subject`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PdfXmp {
    pub title: Option<String>,
    #[serde(default)]
    pub creators: Vec<String>,
    #[serde(default)]
    pub subjects: Vec<String>,
}

/// A value the PDF suggests for a metadata field, and where in the PDF it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggested<T> {
    pub value: T,
    /// `XMP dc:title`, `Info Title`, …
    pub source: &'static str,
}

/// What the PDF's metadata suggests for the score's title, composer and tags: XMP first
/// (editors keep it current), the Info dictionary otherwise; only values the score's
/// metadata rules accept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Suggestions {
    pub title: Option<Suggested<String>>,
    pub composer: Option<Suggested<String>>,
    pub tags: Option<Suggested<Vec<String>>>,
}

impl PdfInfo {
    /// What the file's metadata suggests.
    #[must_use]
    pub fn suggestions(&self) -> Suggestions {
        let xmp = self.xmp.clone().unwrap_or_default();
        let text = |value: Option<String>, max: usize, source: &'static str| {
            value
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty() && value.chars().count() <= max)
                .map(|value| Suggested { value, source })
        };
        let creators = (!xmp.creators.is_empty()).then(|| xmp.creators.join(", "));
        let keywords = self.keywords.as_deref().map(|keywords| {
            keywords
                .split([',', ';'])
                .map(str::to_owned)
                .collect::<Vec<_>>()
        });
        let tags = |list: Option<Vec<String>>, source: &'static str| {
            let mut seen = std::collections::BTreeSet::new();
            let tags: Vec<String> = list?
                .into_iter()
                .map(|tag| tag.trim().to_owned())
                .filter(|tag| !tag.is_empty() && tag.chars().count() <= MAX_LIST_ENTRY_CHARS)
                .filter(|tag| seen.insert(tag.to_lowercase()))
                .take(MAX_LIST_ENTRIES)
                .collect();
            (!tags.is_empty()).then_some(Suggested {
                value: tags,
                source,
            })
        };
        Suggestions {
            title: text(xmp.title, MAX_TITLE_CHARS, "XMP dc:title")
                .or_else(|| text(self.title.clone(), MAX_TITLE_CHARS, "Info Title")),
            composer: text(creators, MAX_TEXT_CHARS, "XMP dc:creator")
                .or_else(|| text(self.author.clone(), MAX_TEXT_CHARS, "Info Author")),
            tags: tags(
                (!xmp.subjects.is_empty()).then_some(xmp.subjects),
                "XMP dc:subject",
            )
            .or_else(|| tags(keywords, "Info Keywords")),
        }
    }

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
