//! One uploaded file and, once confirmed, the score it became. Its id is the upload id.
//!
//! Lifecycle: Requested → Confirmed → Deleted, or Requested → Expired | Cancelled |
//! Rejected. Invariants:
//! - Only the owner sees the score: for anyone else every user command answers
//!   `NotFound`, exactly as for an id that does not exist.
//! - An upload is confirmed at most once, before its deadline, with the declared size
//!   (and the declared SHA-256 when both sides know one) and valid metadata.
//! - Expired, cancelled, rejected and deleted are final.
//! - Metadata is always valid ([`ScoreMetadata::validate`]) and stored trimmed; a recorded
//!   patch holds only the fields that actually changed.
//! - Processing results (PDF info, thumbnail, failures) attach to confirmed scores only; a
//!   step that succeeded is never overwritten by a later failure of the same step.
//! - Bookmarks belong to confirmed scores, at most [`MAX_BOOKMARKS`], each valid
//!   ([`Bookmark::validate`]) against the page count known when it was written.
//!
//! Idempotent commands (no events when repeated or when racing an end state):
//! `RejectUpload` of a rejected upload; `CancelUpload` of an upload that already ended
//! unconfirmed (cancelled, expired, rejected); `ExpireUpload` of anything not pending,
//! including a never-requested id (the expiry timer may fire for a reservation whose
//! upload request never happened); `UpdateScoreMetadata` with an empty or no-op patch;
//! `RecordPdfInfo`, `RecordThumbnail` and `RecordProcessingFailure` repeating what is
//! recorded, or on a deleted score (processing may race deletion).

mod bookmarks;
mod metadata;
mod processing;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use crate::bytes::Bytes;
use crate::ids::{BookmarkId, UploadId, UserId};
pub use crate::validation::FieldErrors;
use crate::validation::is_sha256_hex;

pub use bookmarks::{
    Bookmark, BookmarkPatch, ImportedBookmark, MAX_BOOKMARK_TITLE_CHARS, MAX_BOOKMARKS, MAX_PAGE,
    import_errors, line_label,
};
pub use metadata::{
    DIFFICULTY_RANGE, MAX_DURATION_SECONDS, MAX_LIST_ENTRIES, MAX_LIST_ENTRY_CHARS,
    MAX_NOTES_CHARS, MAX_TEXT_CHARS, MAX_TITLE_CHARS, RATING_RANGE, ScoreMetadata,
    ScoreMetadataPatch,
};
pub use processing::{
    PdfInfo, PdfXmp, ProcessingStage, ProcessingStatus, Suggested, Suggestions, Thumbnail,
};

/// Where an upload, and the score it may become, stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoreStatus {
    /// Upload URL handed out; waiting for the bytes and the confirmation.
    Requested,
    /// A live score.
    Confirmed,
    /// Not confirmed before the deadline.
    Expired,
    /// Abandoned by the user before confirmation.
    Cancelled,
    /// The uploaded bytes were not a PDF.
    Rejected,
    /// Deleted by its owner.
    Deleted,
}

impl ScoreStatus {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Confirmed => "confirmed",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
            Self::Rejected => "rejected",
            Self::Deleted => "deleted",
        }
    }
}

impl fmt::Display for ScoreStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The file behind a score, as declared when the upload was requested (size and SHA-256
/// are those of the stored object once confirmed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadFile {
    pub filename: String,
    pub size_bytes: Bytes,
    pub mime_type: String,
    pub sha256: Option<String>,
    pub object_key: String,
    /// Deadline for the confirmation.
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ScoreCommand {
    /// Opens an upload for `owner`: the caller already reserved `size_bytes` of quota and
    /// will hand out a presigned URL, valid until `expires_at`, for the upload's staging
    /// key. `object_key` is where the bytes live once confirmed: the confirmation copies
    /// them there, and no client ever gets a URL for it, so confirmed bytes cannot change.
    RequestUpload {
        upload_id: UploadId,
        owner: UserId,
        filename: String,
        size_bytes: Bytes,
        mime_type: String,
        sha256: Option<String>,
        object_key: String,
        expires_at: DateTime<Utc>,
    },
    /// Turns an upload into a score. `size_bytes`, `etag` and `sha256` describe the stored
    /// object as the caller found it at `now`; `metadata` is what the user entered.
    ConfirmUpload {
        user_id: UserId,
        now: DateTime<Utc>,
        size_bytes: Bytes,
        etag: String,
        sha256: Option<String>,
        metadata: ScoreMetadata,
    },
    /// Ends an upload for good because its bytes are not acceptable (not a PDF).
    RejectUpload { reason: String },
    /// The user abandons an unconfirmed upload.
    CancelUpload { user_id: UserId },
    /// The deadline passed without confirmation (issued by the expiry timer).
    ExpireUpload { now: DateTime<Utc> },
    /// The user edits some descriptive fields of a score.
    UpdateScoreMetadata {
        user_id: UserId,
        patch: ScoreMetadataPatch,
    },
    /// Records what the PDF info processor read from the file.
    RecordPdfInfo { info: PdfInfo },
    /// Records the thumbnail the thumbnail processor stored.
    RecordThumbnail {
        object_key: String,
        width: u32,
        height: u32,
    },
    /// Records the SHA-256 of a score confirmed before confirmations hashed the bytes
    /// (issued by the `file_hash` processor).
    RecordFileHash { sha256: String },
    /// Records that a processing step gave up on this file, and why (shown to the user).
    RecordProcessingFailure {
        stage: ProcessingStage,
        reason: String,
    },
    /// The owner deletes the score; quota, objects and setlist entries follow.
    DeleteScore { user_id: UserId },
    /// The owner marks a piece within the score. Repeating it with the same bookmark is
    /// a no-op (a retried request).
    AddBookmark {
        user_id: UserId,
        bookmark_id: BookmarkId,
        bookmark: Bookmark,
    },
    /// The owner changes the fields of a bookmark that `patch` names.
    UpdateBookmark {
        user_id: UserId,
        bookmark_id: BookmarkId,
        patch: BookmarkPatch,
    },
    /// The owner removes a bookmark.
    RemoveBookmark {
        user_id: UserId,
        bookmark_id: BookmarkId,
    },
    /// The owner adds a songbook's index at once: all of it or, when any row breaks a
    /// rule, none of it.
    ImportBookmarks {
        user_id: UserId,
        bookmarks: Vec<ImportedBookmark>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ScoreEvent {
    /// An upload was opened: the owner may PUT `size_bytes` bytes to the upload's staging
    /// key until `expires_at`. `object_key` is where the bytes live once confirmed (copied
    /// there by the confirmation; no client can write it). Events recorded before the
    /// staging key existed had the client PUT to `object_key` itself.
    UploadRequested {
        upload_id: UploadId,
        owner: UserId,
        filename: String,
        size_bytes: Bytes,
        mime_type: String,
        sha256: Option<String>,
        object_key: String,
        expires_at: DateTime<Utc>,
    },
    /// The file arrived intact and the score exists, described by `metadata`.
    UploadConfirmed {
        size_bytes: Bytes,
        etag: String,
        sha256: Option<String>,
        metadata: ScoreMetadata,
    },
    /// The upload ended for good because its bytes were not acceptable (not a PDF).
    UploadRejected {
        reason: String,
    },
    /// The user abandoned the upload.
    UploadCancelled {},
    /// The upload was not confirmed in time.
    UploadExpired {},
    /// The fields present in `patch` changed: by the user, or — with `filled_from`,
    /// since 1.1 — filled by the system from the PDF's own metadata, naming for each field
    /// where in the PDF it was read (`{"composer": "XMP dc:creator"}`).
    ScoreMetadataUpdated {
        patch: ScoreMetadataPatch,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filled_from: Option<BTreeMap<String, String>>,
    },
    /// The file's PDF information is known.
    PdfInfoExtracted {
        info: PdfInfo,
    },
    /// The score's thumbnail is stored at `object_key`.
    ThumbnailGenerated {
        object_key: String,
        width: u32,
        height: u32,
    },
    /// The SHA-256 of a score confirmed without one is known (lowercase hex).
    FileHashed {
        sha256: String,
    },
    /// Processing step `stage` gave up on the file, for `reason`.
    ProcessingFailed {
        stage: ProcessingStage,
        reason: String,
    },
    /// The owner deleted the score, which held `size_bytes`.
    ScoreDeleted {
        size_bytes: Bytes,
    },
    /// A piece within the score was marked.
    BookmarkAdded {
        bookmark_id: BookmarkId,
        bookmark: Bookmark,
    },
    /// A bookmark changed; `bookmark` is all of it after the change.
    BookmarkUpdated {
        bookmark_id: BookmarkId,
        bookmark: Bookmark,
    },
    BookmarkRemoved {
        bookmark_id: BookmarkId,
    },
}

impl DomainEvent for ScoreEvent {
    fn event_type(&self) -> String {
        match self {
            Self::UploadRequested { .. } => "UploadRequested",
            Self::UploadConfirmed { .. } => "UploadConfirmed",
            Self::UploadRejected { .. } => "UploadRejected",
            Self::UploadCancelled { .. } => "UploadCancelled",
            Self::UploadExpired { .. } => "UploadExpired",
            Self::ScoreMetadataUpdated { .. } => "ScoreMetadataUpdated",
            Self::PdfInfoExtracted { .. } => "PdfInfoExtracted",
            Self::ThumbnailGenerated { .. } => "ThumbnailGenerated",
            Self::FileHashed { .. } => "FileHashed",
            Self::ProcessingFailed { .. } => "ProcessingFailed",
            Self::ScoreDeleted { .. } => "ScoreDeleted",
            Self::BookmarkAdded { .. } => "BookmarkAdded",
            Self::BookmarkUpdated { .. } => "BookmarkUpdated",
            Self::BookmarkRemoved { .. } => "BookmarkRemoved",
        }
        .to_owned()
    }

    /// 1.1 added `filled_from` to `ScoreMetadataUpdated` and the XMP facts to
    /// `PdfInfoExtracted`'s `info`; every 1.0 payload reads as the same 1.1 event.
    fn event_version(&self) -> String {
        match self {
            Self::ScoreMetadataUpdated { .. } | Self::PdfInfoExtracted { .. } => "1.1",
            _ => "1.0",
        }
        .to_owned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScoreError {
    /// No such score for this user: never requested, owned by someone else, or ended
    /// (cancelled, rejected, deleted) so that the requested action no longer applies.
    #[error("no such score")]
    NotFound,
    /// The upload id was already used for an upload.
    #[error("the upload was already requested")]
    AlreadyRequested,
    /// The upload is already a score; it cannot be confirmed or cancelled again.
    #[error("the upload is already confirmed")]
    AlreadyConfirmed,
    /// The confirmation deadline passed.
    #[error("the upload expired before confirmation")]
    UploadExpired,
    /// The expiry timer fired before the deadline.
    #[error("the upload's deadline has not passed yet")]
    NotYetExpired,
    /// Only a pending (requested, unconfirmed) upload can be rejected.
    #[error("the upload is not pending")]
    NotPending,
    /// Processing results attach only to confirmed scores.
    #[error("the score is not confirmed")]
    NotConfirmed,
    /// The stored object's size differs from the declared size: the upload is
    /// incomplete or wrong, and stays open for another attempt.
    #[error("the stored file has {actual}, but {declared} were declared")]
    SizeMismatch { declared: Bytes, actual: Bytes },
    /// The stored object's SHA-256 differs from the one declared at request time.
    #[error("the stored file's SHA-256 {actual} differs from the declared {declared}")]
    ChecksumMismatch { declared: String, actual: String },
    /// Some metadata fields break the rules; all of them are listed.
    #[error("invalid metadata: {0}")]
    InvalidMetadata(FieldErrors),
    /// A processor reported an impossible result (e.g. zero pages, a non-finite page
    /// size, an empty thumbnail).
    #[error("invalid processing result: {0}")]
    InvalidProcessingResult(FieldErrors),
    /// No such bookmark on this score.
    #[error("no such bookmark")]
    BookmarkNotFound,
    /// The bookmark id is taken by another bookmark.
    #[error("the bookmark id is taken")]
    BookmarkExists,
    /// Some bookmark fields break the rules; all of them are listed.
    #[error("invalid bookmark: {0}")]
    InvalidBookmark(FieldErrors),
    /// The score holds [`MAX_BOOKMARKS`] already.
    #[error("a score holds at most {MAX_BOOKMARKS} bookmarks")]
    TooManyBookmarks,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Score {
    upload_id: Option<UploadId>,
    owner: Option<UserId>,
    status: Option<ScoreStatus>,
    file: Option<UploadFile>,
    etag: Option<String>,
    metadata: Option<ScoreMetadata>,
    pdf_info: Option<PdfInfo>,
    thumbnail: Option<Thumbnail>,
    failures: BTreeMap<ProcessingStage, String>,
    rejection_reason: Option<String>,
    /// Working copies written before bookmarks existed have none.
    #[serde(default)]
    bookmarks: BTreeMap<BookmarkId, Bookmark>,
}

impl Score {
    /// The upload id, which is also the score id.
    #[must_use]
    pub const fn upload_id(&self) -> Option<UploadId> {
        self.upload_id
    }

    #[must_use]
    pub const fn owner(&self) -> Option<UserId> {
        self.owner
    }

    #[must_use]
    pub fn is_owned_by(&self, user_id: UserId) -> bool {
        self.owner == Some(user_id)
    }

    /// `None` until the upload is requested.
    #[must_use]
    pub const fn status(&self) -> Option<ScoreStatus> {
        self.status
    }

    #[must_use]
    pub const fn file(&self) -> Option<&UploadFile> {
        self.file.as_ref()
    }

    #[must_use]
    pub fn size_bytes(&self) -> Option<Bytes> {
        self.file.as_ref().map(|file| file.size_bytes)
    }

    #[must_use]
    pub fn sha256(&self) -> Option<&str> {
        self.file.as_ref().and_then(|file| file.sha256.as_deref())
    }

    #[must_use]
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.file.as_ref().map(|file| file.expires_at)
    }

    #[must_use]
    pub fn etag(&self) -> Option<&str> {
        self.etag.as_deref()
    }

    /// Where the confirmed PDF is (or would be) stored; never the key clients PUT to.
    #[must_use]
    pub fn object_key(&self) -> Option<&str> {
        self.file.as_ref().map(|file| file.object_key.as_str())
    }

    #[must_use]
    pub fn thumbnail_object_key(&self) -> Option<&str> {
        self.thumbnail
            .as_ref()
            .map(|thumbnail| thumbnail.object_key.as_str())
    }

    /// Every stored object of this score, for cleanup.
    #[must_use]
    pub fn object_keys(&self) -> Vec<&str> {
        self.object_key()
            .into_iter()
            .chain(self.thumbnail_object_key())
            .collect()
    }

    #[must_use]
    pub const fn metadata(&self) -> Option<&ScoreMetadata> {
        self.metadata.as_ref()
    }

    /// Whether `stage` has recorded its result (a failure does not count).
    #[must_use]
    pub const fn has_result(&self, stage: ProcessingStage) -> bool {
        match stage {
            ProcessingStage::PdfInfo => self.pdf_info.is_some(),
            ProcessingStage::Thumbnail => self.thumbnail.is_some(),
        }
    }

    #[must_use]
    pub const fn pdf_info(&self) -> Option<&PdfInfo> {
        self.pdf_info.as_ref()
    }

    #[must_use]
    pub const fn thumbnail(&self) -> Option<&Thumbnail> {
        self.thumbnail.as_ref()
    }

    /// Why `stage` failed, unless it succeeded since.
    #[must_use]
    pub fn processing_failure(&self, stage: ProcessingStage) -> Option<&str> {
        self.failures.get(&stage).map(String::as_str)
    }

    #[must_use]
    pub const fn processing_failures(&self) -> &BTreeMap<ProcessingStage, String> {
        &self.failures
    }

    /// Ready once PDF info and thumbnail are both present; failed while any step's latest
    /// outcome is a failure; pending otherwise.
    #[must_use]
    pub fn processing_status(&self) -> ProcessingStatus {
        if self.pdf_info.is_some() && self.thumbnail.is_some() {
            ProcessingStatus::Ready
        } else if self.failures.is_empty() {
            ProcessingStatus::Pending
        } else {
            ProcessingStatus::Failed
        }
    }

    #[must_use]
    pub fn rejection_reason(&self) -> Option<&str> {
        self.rejection_reason.as_deref()
    }

    /// The bookmarks by id (ids are minted as UUIDv7: creation order).
    #[must_use]
    pub const fn bookmarks(&self) -> &BTreeMap<BookmarkId, Bookmark> {
        &self.bookmarks
    }

    /// The page count, once the PDF info processor has read it.
    #[must_use]
    pub fn page_count(&self) -> Option<u32> {
        self.pdf_info.as_ref().map(|info| info.page_count)
    }

    /// Decides what a command changes, without changing anything.
    ///
    /// # Errors
    /// The [`ScoreError`] naming the rule the command breaks.
    pub fn decide(&self, command: ScoreCommand) -> Result<Vec<ScoreEvent>, ScoreError> {
        match command {
            ScoreCommand::RequestUpload {
                upload_id,
                owner,
                filename,
                size_bytes,
                mime_type,
                sha256,
                object_key,
                expires_at,
            } => {
                if self.status.is_some() {
                    return Err(ScoreError::AlreadyRequested);
                }
                Ok(vec![ScoreEvent::UploadRequested {
                    upload_id,
                    owner,
                    filename,
                    size_bytes,
                    mime_type,
                    sha256,
                    object_key,
                    expires_at,
                }])
            }
            ScoreCommand::ConfirmUpload {
                user_id,
                now,
                size_bytes,
                etag,
                sha256,
                metadata,
            } => self.confirm(user_id, now, size_bytes, etag, sha256, metadata),
            ScoreCommand::RejectUpload { reason } => match self.status {
                None => Err(ScoreError::NotFound),
                Some(ScoreStatus::Requested) => Ok(vec![ScoreEvent::UploadRejected { reason }]),
                Some(ScoreStatus::Rejected) => Ok(vec![]),
                Some(_) => Err(ScoreError::NotPending),
            },
            ScoreCommand::CancelUpload { user_id } => match self.status_for(user_id)? {
                ScoreStatus::Requested => Ok(vec![ScoreEvent::UploadCancelled {}]),
                ScoreStatus::Cancelled | ScoreStatus::Expired | ScoreStatus::Rejected => Ok(vec![]),
                ScoreStatus::Confirmed => Err(ScoreError::AlreadyConfirmed),
                ScoreStatus::Deleted => Err(ScoreError::NotFound),
            },
            ScoreCommand::ExpireUpload { now } => match (self.status, &self.file) {
                (Some(ScoreStatus::Requested), Some(file)) => {
                    if now < file.expires_at {
                        return Err(ScoreError::NotYetExpired);
                    }
                    Ok(vec![ScoreEvent::UploadExpired {}])
                }
                _ => Ok(vec![]),
            },
            ScoreCommand::UpdateScoreMetadata { user_id, patch } => {
                self.update_metadata(user_id, patch)
            }
            ScoreCommand::RecordPdfInfo { info } => {
                if !self.accepts_processing_results()? || self.pdf_info.as_ref() == Some(&info) {
                    return Ok(vec![]);
                }
                info.validate()
                    .map_err(ScoreError::InvalidProcessingResult)?;
                // The first time the file's metadata is known, it fills what the user
                // left empty; what they typed is never overwritten.
                let filled = if self.pdf_info.is_none() {
                    self.filled_from_pdf(&info)
                } else {
                    None
                };
                Ok(std::iter::once(ScoreEvent::PdfInfoExtracted { info })
                    .chain(filled)
                    .collect())
            }
            ScoreCommand::RecordThumbnail {
                object_key,
                width,
                height,
            } => {
                let thumbnail = Thumbnail {
                    object_key,
                    width,
                    height,
                };
                if !self.accepts_processing_results()?
                    || self.thumbnail.as_ref() == Some(&thumbnail)
                {
                    return Ok(vec![]);
                }
                thumbnail
                    .validate()
                    .map_err(ScoreError::InvalidProcessingResult)?;
                let Thumbnail {
                    object_key,
                    width,
                    height,
                } = thumbnail;
                Ok(vec![ScoreEvent::ThumbnailGenerated {
                    object_key,
                    width,
                    height,
                }])
            }
            ScoreCommand::RecordFileHash { sha256 } => {
                // A hash declared at request time and never checked (confirmations before
                // they hashed) gives way to the bytes' own.
                if !self.accepts_processing_results()?
                    || self
                        .file
                        .as_ref()
                        .is_none_or(|file| file.sha256.as_deref() == Some(sha256.as_str()))
                {
                    return Ok(vec![]);
                }
                if !is_sha256_hex(&sha256) {
                    let mut errors = FieldErrors::new();
                    errors.add("sha256", "must be 64 lowercase hexadecimal characters");
                    return Err(ScoreError::InvalidProcessingResult(errors));
                }
                Ok(vec![ScoreEvent::FileHashed { sha256 }])
            }
            ScoreCommand::RecordProcessingFailure { stage, reason } => {
                if !self.accepts_processing_results()? {
                    return Ok(vec![]);
                }
                // A success stands: a late failure comes from a duplicate, outdated attempt.
                if self.has_result(stage) || self.failures.get(&stage) == Some(&reason) {
                    return Ok(vec![]);
                }
                Ok(vec![ScoreEvent::ProcessingFailed { stage, reason }])
            }
            ScoreCommand::DeleteScore { user_id } => {
                match (self.status_for(user_id)?, &self.file) {
                    (ScoreStatus::Confirmed, Some(file)) => Ok(vec![ScoreEvent::ScoreDeleted {
                        size_bytes: file.size_bytes,
                    }]),
                    _ => Err(ScoreError::NotFound),
                }
            }
            ScoreCommand::AddBookmark {
                user_id,
                bookmark_id,
                bookmark,
            } => self.add_bookmark(user_id, bookmark_id, bookmark),
            ScoreCommand::ImportBookmarks { user_id, bookmarks } => {
                self.import_bookmarks(user_id, bookmarks)
            }
            ScoreCommand::UpdateBookmark {
                user_id,
                bookmark_id,
                patch,
            } => {
                self.confirmed_for(user_id)?;
                let current = self
                    .bookmarks
                    .get(&bookmark_id)
                    .ok_or(ScoreError::BookmarkNotFound)?;
                let bookmark = patch.applied_to(current).normalized();
                if &bookmark == current {
                    return Ok(vec![]);
                }
                bookmark
                    .validate(self.page_count())
                    .map_err(ScoreError::InvalidBookmark)?;
                Ok(vec![ScoreEvent::BookmarkUpdated {
                    bookmark_id,
                    bookmark,
                }])
            }
            ScoreCommand::RemoveBookmark {
                user_id,
                bookmark_id,
            } => {
                self.confirmed_for(user_id)?;
                if !self.bookmarks.contains_key(&bookmark_id) {
                    return Err(ScoreError::BookmarkNotFound);
                }
                Ok(vec![ScoreEvent::BookmarkRemoved { bookmark_id }])
            }
        }
    }

    /// `NotFound` unless this is a live score of `user_id`.
    fn confirmed_for(&self, user_id: UserId) -> Result<(), ScoreError> {
        match self.status_for(user_id)? {
            ScoreStatus::Confirmed => Ok(()),
            _ => Err(ScoreError::NotFound),
        }
    }

    fn add_bookmark(
        &self,
        user_id: UserId,
        bookmark_id: BookmarkId,
        bookmark: Bookmark,
    ) -> Result<Vec<ScoreEvent>, ScoreError> {
        self.confirmed_for(user_id)?;
        let bookmark = bookmark.normalized();
        if let Some(existing) = self.bookmarks.get(&bookmark_id) {
            return if *existing == bookmark {
                Ok(vec![])
            } else {
                Err(ScoreError::BookmarkExists)
            };
        }
        bookmark
            .validate(self.page_count())
            .map_err(ScoreError::InvalidBookmark)?;
        if self.bookmarks.len() >= MAX_BOOKMARKS {
            return Err(ScoreError::TooManyBookmarks);
        }
        Ok(vec![ScoreEvent::BookmarkAdded {
            bookmark_id,
            bookmark,
        }])
    }

    /// The metadata update filling the composer and tags the user left empty from what
    /// the PDF suggests, or `None` when there is nothing to fill.
    fn filled_from_pdf(&self, info: &PdfInfo) -> Option<ScoreEvent> {
        let metadata = self.metadata.as_ref()?;
        let suggestions = info.suggestions();
        let mut patch = ScoreMetadataPatch::default();
        let mut sources = BTreeMap::new();
        if let (None, Some(composer)) = (&metadata.composer, suggestions.composer) {
            patch.composer = Some(Some(composer.value));
            sources.insert("composer".to_owned(), composer.source.to_owned());
        }
        if let (true, Some(tags)) = (metadata.tags.is_empty(), suggestions.tags) {
            patch.tags = Some(tags.value);
            sources.insert("tags".to_owned(), tags.source.to_owned());
        }
        if sources.is_empty() {
            return None;
        }
        Some(ScoreEvent::ScoreMetadataUpdated {
            patch,
            filled_from: Some(sources),
        })
    }

    /// One `BookmarkAdded` per row, in the file's order; a row breaking a rule is reported
    /// by its line (`InvalidBookmark` keyed `line N`). Sent again, the same rows (same
    /// ids) change nothing.
    fn import_bookmarks(
        &self,
        user_id: UserId,
        rows: Vec<ImportedBookmark>,
    ) -> Result<Vec<ScoreEvent>, ScoreError> {
        self.confirmed_for(user_id)?;
        let rows: Vec<ImportedBookmark> = rows
            .into_iter()
            .map(|row| ImportedBookmark {
                bookmark: row.bookmark.normalized(),
                ..row
            })
            .collect();
        let ids: std::collections::BTreeSet<BookmarkId> =
            rows.iter().map(|row| row.bookmark_id).collect();
        if ids.len() != rows.len() {
            return Err(ScoreError::BookmarkExists);
        }
        let known = rows
            .iter()
            .filter(|row| self.bookmarks.contains_key(&row.bookmark_id))
            .count();
        if known > 0 {
            let same = rows
                .iter()
                .all(|row| self.bookmarks.get(&row.bookmark_id) == Some(&row.bookmark));
            return if same && known == rows.len() {
                Ok(vec![])
            } else {
                Err(ScoreError::BookmarkExists)
            };
        }
        import_errors(&rows, self.page_count())
            .into_result()
            .map_err(ScoreError::InvalidBookmark)?;
        if self.bookmarks.len() + rows.len() > MAX_BOOKMARKS {
            return Err(ScoreError::TooManyBookmarks);
        }
        Ok(rows
            .into_iter()
            .map(|row| ScoreEvent::BookmarkAdded {
                bookmark_id: row.bookmark_id,
                bookmark: row.bookmark,
            })
            .collect())
    }

    /// The status as `user_id` may see it: other users' uploads do not exist for them.
    fn status_for(&self, user_id: UserId) -> Result<ScoreStatus, ScoreError> {
        match self.status {
            Some(status) if self.is_owned_by(user_id) => Ok(status),
            _ => Err(ScoreError::NotFound),
        }
    }

    /// `Ok(false)` on a deleted score: results racing the deletion are dropped.
    fn accepts_processing_results(&self) -> Result<bool, ScoreError> {
        match self.status {
            None => Err(ScoreError::NotFound),
            Some(ScoreStatus::Confirmed) => Ok(true),
            Some(ScoreStatus::Deleted) => Ok(false),
            Some(_) => Err(ScoreError::NotConfirmed),
        }
    }

    fn confirm(
        &self,
        user_id: UserId,
        now: DateTime<Utc>,
        size_bytes: Bytes,
        etag: String,
        sha256: Option<String>,
        metadata: ScoreMetadata,
    ) -> Result<Vec<ScoreEvent>, ScoreError> {
        match self.status_for(user_id)? {
            ScoreStatus::Requested => {}
            ScoreStatus::Confirmed => return Err(ScoreError::AlreadyConfirmed),
            ScoreStatus::Expired => return Err(ScoreError::UploadExpired),
            ScoreStatus::Cancelled | ScoreStatus::Rejected | ScoreStatus::Deleted => {
                return Err(ScoreError::NotFound);
            }
        }
        let Some(file) = &self.file else {
            return Err(ScoreError::NotFound);
        };
        if now >= file.expires_at {
            return Err(ScoreError::UploadExpired);
        }
        let metadata = metadata.normalized();
        metadata.validate().map_err(ScoreError::InvalidMetadata)?;
        if size_bytes != file.size_bytes {
            return Err(ScoreError::SizeMismatch {
                declared: file.size_bytes,
                actual: size_bytes,
            });
        }
        if let (Some(declared), Some(actual)) = (&file.sha256, &sha256)
            && !declared.eq_ignore_ascii_case(actual)
        {
            return Err(ScoreError::ChecksumMismatch {
                declared: declared.clone(),
                actual: actual.clone(),
            });
        }
        Ok(vec![ScoreEvent::UploadConfirmed {
            size_bytes,
            etag,
            sha256,
            metadata,
        }])
    }

    fn update_metadata(
        &self,
        user_id: UserId,
        patch: ScoreMetadataPatch,
    ) -> Result<Vec<ScoreEvent>, ScoreError> {
        let (ScoreStatus::Confirmed, Some(current)) = (self.status_for(user_id)?, &self.metadata)
        else {
            return Err(ScoreError::NotFound);
        };
        let patch = patch.normalized();
        let mut updated = current.clone();
        patch.apply_to(&mut updated);
        updated.validate().map_err(ScoreError::InvalidMetadata)?;
        let patch = patch.without_unchanged(current);
        if patch.is_empty() {
            return Ok(vec![]);
        }
        Ok(vec![ScoreEvent::ScoreMetadataUpdated {
            patch,
            filled_from: None,
        }])
    }
}

crate::sink::decided_aggregate!(Score, "Score", ScoreCommand, ScoreEvent, ScoreError);

impl Score {
    /// The state after `event` (what cqrs-es calls `apply`).
    fn evolve(&mut self, event: ScoreEvent) {
        match event {
            ScoreEvent::UploadRequested {
                upload_id,
                owner,
                filename,
                size_bytes,
                mime_type,
                sha256,
                object_key,
                expires_at,
            } => {
                self.upload_id = Some(upload_id);
                self.owner = Some(owner);
                self.status = Some(ScoreStatus::Requested);
                self.file = Some(UploadFile {
                    filename,
                    size_bytes,
                    mime_type,
                    sha256,
                    object_key,
                    expires_at,
                });
            }
            ScoreEvent::UploadConfirmed {
                size_bytes,
                etag,
                sha256,
                metadata,
            } => {
                self.status = Some(ScoreStatus::Confirmed);
                if let Some(file) = &mut self.file {
                    file.size_bytes = size_bytes;
                    if sha256.is_some() {
                        file.sha256 = sha256;
                    }
                }
                self.etag = Some(etag);
                self.metadata = Some(metadata);
            }
            ScoreEvent::UploadRejected { reason } => {
                self.status = Some(ScoreStatus::Rejected);
                self.rejection_reason = Some(reason);
            }
            ScoreEvent::UploadCancelled {} => self.status = Some(ScoreStatus::Cancelled),
            ScoreEvent::UploadExpired {} => self.status = Some(ScoreStatus::Expired),
            ScoreEvent::ScoreMetadataUpdated { patch, .. } => {
                if let Some(metadata) = &mut self.metadata {
                    patch.apply_to(metadata);
                }
            }
            ScoreEvent::PdfInfoExtracted { info } => {
                self.pdf_info = Some(info);
                self.failures.remove(&ProcessingStage::PdfInfo);
            }
            ScoreEvent::ThumbnailGenerated {
                object_key,
                width,
                height,
            } => {
                self.thumbnail = Some(Thumbnail {
                    object_key,
                    width,
                    height,
                });
                self.failures.remove(&ProcessingStage::Thumbnail);
            }
            ScoreEvent::FileHashed { sha256 } => {
                if let Some(file) = &mut self.file {
                    file.sha256 = Some(sha256);
                }
            }
            ScoreEvent::ProcessingFailed { stage, reason } => {
                self.failures.insert(stage, reason);
            }
            ScoreEvent::ScoreDeleted { .. } => self.status = Some(ScoreStatus::Deleted),
            ScoreEvent::BookmarkAdded {
                bookmark_id,
                bookmark,
            }
            | ScoreEvent::BookmarkUpdated {
                bookmark_id,
                bookmark,
            } => {
                self.bookmarks.insert(bookmark_id, bookmark);
            }
            ScoreEvent::BookmarkRemoved { bookmark_id } => {
                self.bookmarks.remove(&bookmark_id);
            }
        }
    }
}
