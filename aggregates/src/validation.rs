//! Field-level validation shared by the aggregates whose commands carry user-edited forms
//! (score metadata, setlist details). All bad fields are reported at once.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Every invalid field of a command, each with all the rules it breaks. Keys are the
/// field names of the command (`title`, `tags`, …) so clients can highlight them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FieldErrors(pub BTreeMap<String, Vec<String>>);

impl FieldErrors {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_owned())
            .or_default()
            .push(message.into());
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds every message of `other`, after those already here.
    pub fn extend(&mut self, other: Self) {
        for (field, messages) in other.0 {
            self.0.entry(field).or_default().extend(messages);
        }
    }

    /// The messages for `field`, if it is invalid.
    #[must_use]
    pub fn get(&self, field: &str) -> Option<&[String]> {
        self.0.get(field).map(Vec::as_slice)
    }

    #[must_use]
    pub fn into_inner(self) -> BTreeMap<String, Vec<String>> {
        self.0
    }

    /// `Ok` when no field was invalid.
    ///
    /// # Errors
    /// `self`, when at least one field is invalid.
    pub fn into_result(self) -> Result<(), Self> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (field, messages) in &self.0 {
            for message in messages {
                if !first {
                    f.write_str("; ")?;
                }
                first = false;
                write!(f, "{field}: {message}")?;
            }
        }
        Ok(())
    }
}

/// Characters as users count them in any script (Unicode scalar values, not bytes).
pub(crate) fn char_len(text: &str) -> usize {
    text.chars().count()
}

pub(crate) fn trimmed(text: String) -> String {
    let trimmed = text.trim();
    if trimmed.len() == text.len() {
        text
    } else {
        trimmed.to_owned()
    }
}

/// Trims an optional text; a blank one means "no value".
pub(crate) fn trimmed_optional(text: Option<String>) -> Option<String> {
    text.map(trimmed).filter(|text| !text.is_empty())
}

/// A required text: 1..=`max` characters once trimmed.
pub(crate) fn check_required(errors: &mut FieldErrors, field: &str, value: &str, max: usize) {
    let len = char_len(value.trim());
    if len == 0 {
        errors.add(field, "must not be empty");
    } else if len > max {
        errors.add(field, format!("must be at most {max} characters"));
    }
}

/// An optional text: at most `max` characters once trimmed.
pub(crate) fn check_optional(
    errors: &mut FieldErrors,
    field: &str,
    value: Option<&str>,
    max: usize,
) {
    if value.is_some_and(|value| char_len(value.trim()) > max) {
        errors.add(field, format!("must be at most {max} characters"));
    }
}

/// Whether `value` is a SHA-256 digest as the API writes it: 64 lowercase hex characters.
#[must_use]
pub fn is_sha256_hex(value: &str) -> bool {
    value.len() == 64
        && value
            .bytes()
            .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_errors_collect_every_message_per_field() {
        let mut errors = FieldErrors::new();
        errors.add("title", "must not be empty");
        errors.add("tags", "at most 50 entries");
        errors.add("tags", "entry 3 is empty");
        assert_eq!(errors.get("tags").map(<[String]>::len), Some(2));
        assert_eq!(
            errors.to_string(),
            "tags: at most 50 entries; tags: entry 3 is empty; title: must not be empty"
        );
        assert!(errors.into_result().is_err());
        assert_eq!(FieldErrors::new().into_result(), Ok(()));
    }

    #[test]
    fn lengths_count_characters_not_bytes() {
        let mut errors = FieldErrors::new();
        check_required(&mut errors, "title", " 아리랑 ", 3);
        assert!(errors.is_empty());
        check_required(&mut errors, "title", "아리랑!", 3);
        assert!(errors.get("title").is_some());
    }
}
