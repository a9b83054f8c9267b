//! What score requests carry and answers show.

use aggregates::{ProcessingStatus, Score};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Serialize, ToSchema)]
pub struct FileView {
    pub filename: String,
    pub size_bytes: u64,
    pub mime_type: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProcessingView {
    /// `pending`, `ready` or `failed`.
    pub status: String,
    pub error: Option<String>,
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
            version,
        })
    }
}

#[derive(Debug, serde::Deserialize, ToSchema)]
#[allow(dead_code)] // documents the request body; the handler reads fields one by one
pub struct ConfirmRequest {
    upload_id: Uuid,
    #[schema(min_length = 1, max_length = 200)]
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
    instrumentation: Option<Vec<String>>,
    #[schema(value_type = Option<Vec<Label>>, max_items = 50)]
    tags: Option<Vec<String>>,
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
#[derive(Debug, ToSchema)]
#[schema(
    min_length = 1,
    max_length = 50,
    pattern = "^\\s*[^\\s\\x00][^\\x00\\n]{0,49}$"
)]
#[allow(dead_code)]
pub struct Label(String);

/// A presigned download link.
#[derive(Debug, Serialize, ToSchema)]
pub struct DownloadUrl {
    pub url: String,
    pub expires_at: DateTime<Utc>,
}
