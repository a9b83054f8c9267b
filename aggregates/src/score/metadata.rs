//! What a musician says about a score, and the rules those descriptions follow.

use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};

use crate::serde_ext::double_option;
use crate::validation::{
    FieldErrors, char_len, check_optional, check_required, trimmed, trimmed_optional,
};

pub const MAX_TITLE_CHARS: usize = 200;
/// Composer, arranger, genre, key and reference.
pub const MAX_TEXT_CHARS: usize = 200;
pub const MAX_NOTES_CHARS: usize = 10_000;
/// Entries of `tags` and of `instrumentation`, each.
pub const MAX_LIST_ENTRIES: usize = 50;
pub const MAX_LIST_ENTRY_CHARS: usize = 50;
pub const RATING_RANGE: RangeInclusive<u8> = 1..=5;
pub const DIFFICULTY_RANGE: RangeInclusive<u8> = 1..=3;
/// A day: longer pieces exist only as several scores.
pub const MAX_DURATION_SECONDS: u32 = 86_400;

/// The descriptive fields of a score, as the user entered them (trimmed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreMetadata {
    pub title: String,
    pub composer: Option<String>,
    pub arranger: Option<String>,
    pub genre: Option<String>,
    pub key: Option<String>,
    pub instrumentation: Vec<String>,
    pub tags: Vec<String>,
    /// 1–5, how much the user likes it.
    pub rating: Option<u8>,
    /// 1–3, how hard it is to play.
    pub difficulty: Option<u8>,
    pub duration_seconds: Option<u32>,
    /// Catalogue number, edition, or any reference the user keeps.
    pub reference: Option<String>,
    pub notes: Option<String>,
}

impl ScoreMetadata {
    /// Checks every field and reports all the bad ones at once. Lengths are counted in
    /// characters after trimming, so this gives the same answer before and after
    /// [`Self::normalized`].
    ///
    /// # Errors
    /// Every invalid field with its messages.
    pub fn validate(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::new();
        check_required(&mut errors, "title", &self.title, MAX_TITLE_CHARS);
        for (field, value) in [
            ("composer", &self.composer),
            ("arranger", &self.arranger),
            ("genre", &self.genre),
            ("key", &self.key),
            ("reference", &self.reference),
        ] {
            check_optional(&mut errors, field, value.as_deref(), MAX_TEXT_CHARS);
        }
        check_optional(&mut errors, "notes", self.notes.as_deref(), MAX_NOTES_CHARS);
        check_list(&mut errors, "instrumentation", &self.instrumentation);
        check_list(&mut errors, "tags", &self.tags);
        check_range(&mut errors, "rating", self.rating, &RATING_RANGE);
        check_range(
            &mut errors,
            "difficulty",
            self.difficulty,
            &DIFFICULTY_RANGE,
        );
        if self
            .duration_seconds
            .is_some_and(|duration| duration > MAX_DURATION_SECONDS)
        {
            errors.add(
                "duration_seconds",
                format!("must be at most {MAX_DURATION_SECONDS} seconds"),
            );
        }
        errors.into_result()
    }

    /// Trims every text; an optional text left blank becomes absent.
    #[must_use]
    pub fn normalized(self) -> Self {
        Self {
            title: trimmed(self.title),
            composer: trimmed_optional(self.composer),
            arranger: trimmed_optional(self.arranger),
            genre: trimmed_optional(self.genre),
            key: trimmed_optional(self.key),
            instrumentation: trimmed_list(self.instrumentation),
            tags: trimmed_list(self.tags),
            rating: self.rating,
            difficulty: self.difficulty,
            duration_seconds: self.duration_seconds,
            reference: trimmed_optional(self.reference),
            notes: trimmed_optional(self.notes),
        }
    }
}

pub(super) fn trimmed_list(list: Vec<String>) -> Vec<String> {
    list.into_iter().map(trimmed).collect()
}

/// A list of labels (tags, instruments): at most [`MAX_LIST_ENTRIES`] of 1 to
/// [`MAX_LIST_ENTRY_CHARS`] characters each.
pub(super) fn check_list(errors: &mut FieldErrors, field: &str, entries: &[String]) {
    if entries.len() > MAX_LIST_ENTRIES {
        errors.add(
            field,
            format!("must have at most {MAX_LIST_ENTRIES} entries"),
        );
    }
    let bad_entry = entries.iter().any(|entry| {
        let len = char_len(entry.trim());
        len == 0 || len > MAX_LIST_ENTRY_CHARS
    });
    if bad_entry {
        errors.add(
            field,
            format!("each entry must be between 1 and {MAX_LIST_ENTRY_CHARS} characters"),
        );
    }
}

fn check_range(
    errors: &mut FieldErrors,
    field: &str,
    value: Option<u8>,
    range: &RangeInclusive<u8>,
) {
    if value.is_some_and(|value| !range.contains(&value)) {
        errors.add(
            field,
            format!("must be between {} and {}", range.start(), range.end()),
        );
    }
}

/// A partial edit of [`ScoreMetadata`]. An absent field is left as is; for the optional
/// fields, `Some(None)` (JSON `null`) clears the value. Absent fields are omitted when
/// serialized, so a stored patch says exactly what changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreMetadataPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "double_option"
    )]
    pub composer: Option<Option<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "double_option"
    )]
    pub arranger: Option<Option<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "double_option"
    )]
    pub genre: Option<Option<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "double_option"
    )]
    pub key: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instrumentation: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "double_option"
    )]
    pub rating: Option<Option<u8>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "double_option"
    )]
    pub difficulty: Option<Option<u8>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "double_option"
    )]
    pub duration_seconds: Option<Option<u32>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "double_option"
    )]
    pub reference: Option<Option<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "double_option"
    )]
    pub notes: Option<Option<String>>,
}

impl ScoreMetadataPatch {
    /// Whether the patch touches no field at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Writes the fields the patch carries over `metadata` (projections fold
    /// `ScoreMetadataUpdated` with this too).
    pub fn apply_to(&self, metadata: &mut ScoreMetadata) {
        fn set<T: Clone>(target: &mut T, value: Option<&T>) {
            if let Some(value) = value {
                target.clone_from(value);
            }
        }
        set(&mut metadata.title, self.title.as_ref());
        set(&mut metadata.composer, self.composer.as_ref());
        set(&mut metadata.arranger, self.arranger.as_ref());
        set(&mut metadata.genre, self.genre.as_ref());
        set(&mut metadata.key, self.key.as_ref());
        set(&mut metadata.instrumentation, self.instrumentation.as_ref());
        set(&mut metadata.tags, self.tags.as_ref());
        set(&mut metadata.rating, self.rating.as_ref());
        set(&mut metadata.difficulty, self.difficulty.as_ref());
        set(
            &mut metadata.duration_seconds,
            self.duration_seconds.as_ref(),
        );
        set(&mut metadata.reference, self.reference.as_ref());
        set(&mut metadata.notes, self.notes.as_ref());
    }

    /// Trims like [`ScoreMetadata::normalized`]; a blank optional text becomes a clear.
    #[must_use]
    pub fn normalized(self) -> Self {
        Self {
            title: self.title.map(trimmed),
            composer: self.composer.map(trimmed_optional),
            arranger: self.arranger.map(trimmed_optional),
            genre: self.genre.map(trimmed_optional),
            key: self.key.map(trimmed_optional),
            instrumentation: self.instrumentation.map(trimmed_list),
            tags: self.tags.map(trimmed_list),
            rating: self.rating,
            difficulty: self.difficulty,
            duration_seconds: self.duration_seconds,
            reference: self.reference.map(trimmed_optional),
            notes: self.notes.map(trimmed_optional),
        }
    }

    /// Drops the fields that would not change `current`, so the recorded patch holds
    /// only real changes.
    #[must_use]
    pub(crate) fn without_unchanged(self, current: &ScoreMetadata) -> Self {
        fn changed<T: PartialEq>(value: Option<T>, current: &T) -> Option<T> {
            value.filter(|value| value != current)
        }
        Self {
            title: changed(self.title, &current.title),
            composer: changed(self.composer, &current.composer),
            arranger: changed(self.arranger, &current.arranger),
            genre: changed(self.genre, &current.genre),
            key: changed(self.key, &current.key),
            instrumentation: changed(self.instrumentation, &current.instrumentation),
            tags: changed(self.tags, &current.tags),
            rating: changed(self.rating, &current.rating),
            difficulty: changed(self.difficulty, &current.difficulty),
            duration_seconds: changed(self.duration_seconds, &current.duration_seconds),
            reference: changed(self.reference, &current.reference),
            notes: changed(self.notes, &current.notes),
        }
    }
}
