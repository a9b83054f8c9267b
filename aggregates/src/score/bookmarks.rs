//! Bookmarks: the pieces inside a score, each a range of its pages (a fake book holds
//! hundreds). A bookmark's pages are checked against the score's page count when it is
//! known; one made earlier that does not fit the file is kept and reported, never dropped.

use serde::{Deserialize, Serialize};

use crate::ids::BookmarkId;
use crate::serde_ext::double_option;
use crate::validation::{FieldErrors, check_optional, check_required, trimmed, trimmed_optional};

use super::metadata::{MAX_NOTES_CHARS, MAX_TEXT_CHARS, check_list, trimmed_list};

pub const MAX_BOOKMARK_TITLE_CHARS: usize = 200;
/// Bookmarks of one score: the largest fake books index about a thousand pieces.
pub const MAX_BOOKMARKS: usize = 2_000;
/// The last page a bookmark may name while the page count is unknown (PDF info caps
/// files far below this).
pub const MAX_PAGE: u32 = 100_000;

/// A piece within a score, as the user described it (trimmed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bookmark {
    pub title: String,
    pub composer: Option<String>,
    /// 1-based, inclusive.
    pub start_page: u32,
    /// 1-based, inclusive; at least `start_page`.
    pub end_page: u32,
    pub tags: Vec<String>,
    pub key: Option<String>,
    pub notes: Option<String>,
}

impl Bookmark {
    /// Checks every field, and the pages against `page_count` when it is known; reports
    /// all bad fields at once.
    ///
    /// # Errors
    /// Every invalid field with its messages.
    pub fn validate(&self, page_count: Option<u32>) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::new();
        check_required(&mut errors, "title", &self.title, MAX_BOOKMARK_TITLE_CHARS);
        check_optional(
            &mut errors,
            "composer",
            self.composer.as_deref(),
            MAX_TEXT_CHARS,
        );
        check_optional(&mut errors, "key", self.key.as_deref(), MAX_TEXT_CHARS);
        check_optional(&mut errors, "notes", self.notes.as_deref(), MAX_NOTES_CHARS);
        check_list(&mut errors, "tags", &self.tags);
        let last = page_count.unwrap_or(MAX_PAGE);
        if !(1..=last).contains(&self.start_page) {
            errors.add("start_page", pages_message(page_count));
        }
        if !(1..=last).contains(&self.end_page) {
            errors.add("end_page", pages_message(page_count));
        } else if self.end_page < self.start_page {
            errors.add("end_page", "must not be before start_page");
        }
        errors.into_result()
    }

    /// Whether its pages are within a file of `page_count` pages.
    #[must_use]
    pub const fn fits(&self, page_count: u32) -> bool {
        self.start_page >= 1 && self.end_page <= page_count
    }

    /// Trims every text; an optional text left blank becomes absent.
    #[must_use]
    pub fn normalized(self) -> Self {
        Self {
            title: trimmed(self.title),
            composer: trimmed_optional(self.composer),
            start_page: self.start_page,
            end_page: self.end_page,
            tags: trimmed_list(self.tags),
            key: trimmed_optional(self.key),
            notes: trimmed_optional(self.notes),
        }
    }
}

/// One bookmark of an imported index, with the line of the file it came from: the import
/// is refused whole when any of them breaks a rule, each bad one named by its line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedBookmark {
    /// 1-based line of the source file, for reporting only.
    pub line: u64,
    pub bookmark_id: BookmarkId,
    pub bookmark: Bookmark,
}

impl ImportedBookmark {
    /// Where an error about this row is reported.
    #[must_use]
    pub fn label(&self) -> String {
        line_label(self.line)
    }
}

/// `line N`: the key of a file's line in a rejection's `fields`.
#[must_use]
pub fn line_label(line: u64) -> String {
    format!("line {line}")
}

/// Every problem of `rows` against a file of `page_count` pages, keyed by line (each
/// message names the field), or nothing.
#[must_use]
pub fn import_errors(rows: &[ImportedBookmark], page_count: Option<u32>) -> FieldErrors {
    let mut errors = FieldErrors::new();
    for row in rows {
        if let Err(problems) = row.bookmark.validate(page_count) {
            for (field, messages) in problems.into_inner() {
                for message in messages {
                    errors.add(&row.label(), format!("{field}: {message}"));
                }
            }
        }
    }
    errors
}

fn pages_message(page_count: Option<u32>) -> String {
    match page_count {
        Some(count) => format!("must be a page of the file, 1 to {count}"),
        None => format!("must be a page number from 1 to {MAX_PAGE}"),
    }
}

/// The fields of a bookmark to change: absent fields stay, `null` clears an optional one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookmarkPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "double_option"
    )]
    pub composer: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_page: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_page: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "double_option"
    )]
    pub key: Option<Option<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "double_option"
    )]
    pub notes: Option<Option<String>>,
}

impl BookmarkPatch {
    /// `bookmark` with the patch's fields in place.
    #[must_use]
    pub fn applied_to(&self, bookmark: &Bookmark) -> Bookmark {
        let mut patched = bookmark.clone();
        if let Some(title) = &self.title {
            patched.title.clone_from(title);
        }
        if let Some(composer) = &self.composer {
            patched.composer.clone_from(composer);
        }
        if let Some(start_page) = self.start_page {
            patched.start_page = start_page;
        }
        if let Some(end_page) = self.end_page {
            patched.end_page = end_page;
        }
        if let Some(tags) = &self.tags {
            patched.tags.clone_from(tags);
        }
        if let Some(key) = &self.key {
            patched.key.clone_from(key);
        }
        if let Some(notes) = &self.notes {
            patched.notes.clone_from(notes);
        }
        patched
    }
}
