//! What score requests carry and answers show; a confirmation is read field by field into
//! its type, naming every bad field at once.

use aggregates::{Bookmark, BookmarkId, ProcessingStatus, Score, ScoreMetadata, UploadId};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::http::error::{ApiError, ErrorCode};
use crate::http::extract::Fields;

#[derive(Debug, Serialize, ToSchema)]
pub struct FileView {
    pub filename: String,
    pub size_bytes: u64,
    pub mime_type: String,
    /// SHA-256 of the stored bytes, lowercase hex: computed at confirmation (null only for
    /// a score confirmed before confirmations hashed, until the `file_hash` processor has
    /// read it).
    pub sha256: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProcessingView {
    /// `pending`, `ready` or `failed`.
    pub status: String,
    pub error: Option<String>,
}

/// Metadata the PDF suggests for a score.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SuggestionsView {
    pub title: Option<String>,
    pub composer: Option<String>,
    pub tags: Option<Vec<String>>,
}

impl SuggestionsView {
    fn of(suggestions: &aggregates::Suggestions) -> Self {
        Self {
            title: suggestions.title.as_ref().map(|title| title.value.clone()),
            composer: suggestions
                .composer
                .as_ref()
                .map(|composer| composer.value.clone()),
            tags: suggestions.tags.as_ref().map(|tags| tags.value.clone()),
        }
    }
}

/// A bookmark where a score or an item refers to one (the whole bookmark is at
/// `GET /scores/{id}/bookmarks/{bookmark_id}`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BookmarkSummary {
    pub id: Uuid,
    pub title: String,
    pub composer: Option<String>,
    pub start_page: u32,
    pub end_page: u32,
}

impl BookmarkSummary {
    #[must_use]
    pub fn of(id: BookmarkId, bookmark: &Bookmark) -> Self {
        Self {
            id: id.into_uuid(),
            title: bookmark.title.clone(),
            composer: bookmark.composer.clone(),
            start_page: bookmark.start_page,
            end_page: bookmark.end_page,
        }
    }
}

/// A score as clients see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScoreView {
    pub id: Uuid,
    pub title: String,
    pub composer: Option<String>,
    pub arranger: Option<String>,
    pub genre: Option<String>,
    pub key: Option<String>,
    pub instrumentation: Vec<String>,
    pub tags: Vec<String>,
    pub rating: Option<u8>,
    pub difficulty: Option<u8>,
    pub duration_seconds: Option<u32>,
    pub reference: Option<String>,
    pub notes: Option<String>,
    pub file: FileView,
    pub processing: ProcessingView,
    #[schema(value_type = Option<Object>)]
    pub pdf: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub thumbnail: Option<Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// How many bookmarks (`GET /scores/{id}/bookmarks`) the score holds.
    pub bookmark_count: usize,
    /// What the PDF's own metadata (XMP, else the Info dictionary) suggests, once
    /// processing has read it: composer and tags the user left empty at confirmation are
    /// filled from it; the title is the user's to take.
    pub suggestions: Option<SuggestionsView>,
    /// Only in `GET /scores` with `search`: the score's bookmarks the search matched, in
    /// page order (empty when only the score's own title or composer did).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bookmark_hits: Option<Vec<BookmarkSummary>>,
    /// The aggregate version (also the `ETag`).
    pub version: usize,
}

impl ScoreView {
    pub(super) fn of(score: &Score, version: usize, at: DateTime<Utc>) -> Option<Self> {
        Self::at(score, version, at, at)
    }

    pub fn at(
        score: &Score,
        version: usize,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
    ) -> Option<Self> {
        let metadata = score.metadata()?;
        let file = score.file()?;
        let status = score.processing_status();
        Some(Self {
            id: score.upload_id()?.into_uuid(),
            title: metadata.title.clone(),
            composer: metadata.composer.clone(),
            arranger: metadata.arranger.clone(),
            genre: metadata.genre.clone(),
            key: metadata.key.clone(),
            instrumentation: metadata.instrumentation.clone(),
            tags: metadata.tags.clone(),
            rating: metadata.rating,
            difficulty: metadata.difficulty,
            duration_seconds: metadata.duration_seconds,
            reference: metadata.reference.clone(),
            notes: metadata.notes.clone(),
            file: FileView {
                filename: file.filename.clone(),
                size_bytes: file.size_bytes.0,
                mime_type: file.mime_type.clone(),
                sha256: file.sha256.clone(),
            },
            processing: ProcessingView {
                status: match status {
                    ProcessingStatus::Pending => "pending",
                    ProcessingStatus::Ready => "ready",
                    ProcessingStatus::Failed => "failed",
                }
                .to_owned(),
                error: score.processing_failures().values().next().cloned(),
            },
            pdf: score.pdf_info().and_then(|info| serde_json::to_value(info).ok()),
            thumbnail: score.thumbnail().map(|thumbnail| {
                serde_json::json!({"width": thumbnail.width, "height": thumbnail.height})
            }),
            created_at,
            updated_at,
            bookmark_count: score.bookmarks().len(),
            bookmark_hits: None,
            suggestions: score.pdf_info().map(|info| SuggestionsView::of(&info.suggestions())),
            version,
        })
    }
}

#[derive(Debug, ToSchema)]
pub struct ConfirmRequest {
    #[schema(value_type = Uuid)]
    upload_id: UploadId,
    /// Not only spaces.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00]*[^\\s\\x00][^\\x00]*$"
    )]
    title: String,
    #[schema(max_length = 200)]
    composer: Option<String>,
    #[schema(max_length = 200)]
    arranger: Option<String>,
    #[schema(max_length = 200)]
    genre: Option<String>,
    #[schema(max_length = 200)]
    key: Option<String>,
    #[schema(value_type = Option<Vec<Label>>, max_items = 50)]
    instrumentation: Vec<Label>,
    #[schema(value_type = Option<Vec<Label>>, max_items = 50)]
    tags: Vec<Label>,
    #[schema(minimum = 1, maximum = 5)]
    rating: Option<u8>,
    #[schema(minimum = 1, maximum = 3)]
    difficulty: Option<u8>,
    #[schema(maximum = 86400)]
    duration_seconds: Option<u32>,
    #[schema(max_length = 200)]
    reference: Option<String>,
    #[schema(max_length = 10000)]
    notes: Option<String>,
}

/// A tag or an instrument: 1 to 50 characters, not only spaces.
// Checked with the whole list by `ScoreMetadata::validate`, which names the list.
#[derive(Debug, ToSchema)]
#[schema(
    min_length = 1,
    max_length = 50,
    pattern = "^\\s*[^\\s\\x00][^\\x00\\n]{0,49}$"
)]
pub struct Label(String);

fn labels(texts: Vec<String>) -> Vec<Label> {
    texts.into_iter().map(Label).collect()
}

fn texts(labels: Vec<Label>) -> Vec<String> {
    labels.into_iter().map(|Label(text)| text).collect()
}

impl ConfirmRequest {
    /// Every invalid field at once (E007), with the domain's verdict on the metadata.
    pub(super) fn read(body: Map<String, Value>) -> Result<Self, ApiError> {
        let mut fields = Fields::new(body);
        let upload_id = fields.required_string("upload_id");
        let metadata = read_metadata(&mut fields);
        let upload_id = match upload_id.map(|raw| raw.parse::<UploadId>()) {
            Some(Ok(id)) => Some(id),
            Some(Err(_)) => {
                fields.error("upload_id", "Must be an upload id (a UUID).");
                None
            }
            None => None,
        };
        if let Err(errors) = metadata.validate() {
            for (field, messages) in errors.0 {
                for message in messages {
                    fields.error(&field, message);
                }
            }
        }
        fields.finish()?;
        let Some(upload_id) = upload_id else {
            return Err(ApiError::new(
                ErrorCode::ValidationError,
                "Some fields are invalid.",
            ));
        };
        Ok(Self {
            upload_id,
            title: metadata.title,
            composer: metadata.composer,
            arranger: metadata.arranger,
            genre: metadata.genre,
            key: metadata.key,
            instrumentation: labels(metadata.instrumentation),
            tags: labels(metadata.tags),
            rating: metadata.rating,
            difficulty: metadata.difficulty,
            duration_seconds: metadata.duration_seconds,
            reference: metadata.reference,
            notes: metadata.notes,
        })
    }

    /// The upload to confirm and the score's metadata.
    pub(super) fn into_parts(self) -> (UploadId, ScoreMetadata) {
        let metadata = ScoreMetadata {
            title: self.title,
            composer: self.composer,
            arranger: self.arranger,
            genre: self.genre,
            key: self.key,
            instrumentation: texts(self.instrumentation),
            tags: texts(self.tags),
            rating: self.rating,
            difficulty: self.difficulty,
            duration_seconds: self.duration_seconds,
            reference: self.reference,
            notes: self.notes,
        };
        (self.upload_id, metadata)
    }
}

fn read_metadata(fields: &mut Fields) -> ScoreMetadata {
    let title = fields.required_string("title").unwrap_or_default();
    let small = |fields: &mut Fields, name: &str| {
        fields
            .optional_u64(name, u64::from(u8::MAX))
            .and_then(|value| u8::try_from(value).ok())
    };
    ScoreMetadata {
        title,
        composer: fields.optional_string("composer"),
        arranger: fields.optional_string("arranger"),
        genre: fields.optional_string("genre"),
        key: fields.optional_string("key"),
        instrumentation: fields.optional_string_list("instrumentation"),
        tags: fields.optional_string_list("tags"),
        rating: small(fields, "rating"),
        difficulty: small(fields, "difficulty"),
        duration_seconds: fields
            .optional_u64("duration_seconds", u64::from(u32::MAX))
            .and_then(|value| u32::try_from(value).ok()),
        reference: fields.optional_string("reference"),
        notes: fields.optional_string("notes"),
    }
}

/// A presigned download link.
#[derive(Debug, Serialize, ToSchema)]
pub struct DownloadUrl {
    pub url: String,
    pub expires_at: DateTime<Utc>,
}
