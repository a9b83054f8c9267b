//! Email addresses, parsed once at the edge. An `Email` is always in Unicode
//! compatibility form (NFKC: `café` typed precomposed or with a combining accent, and
//! fullwidth `ｃａｓｅ`, are the same address), trimmed, lowercased (Unicode-aware), at
//! most 254 characters, free of whitespace, and has exactly one `@` between a non-empty
//! local part and a non-empty domain. Because the address is normalised, two `Email`s are
//! equal exactly when the addresses match up to case and Unicode compatibility, which is
//! what uniqueness of registrations relies on.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

/// The longest address accepted, in characters (RFC 5321's path limit, minus the brackets).
pub const MAX_EMAIL_CHARS: usize = 254;

/// A normalised email address; see the module documentation for what it guarantees.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

/// Why a string is not an acceptable email address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Nothing but whitespace was given.
    #[error("the email address is empty")]
    Empty,
    /// Longer than the 254 characters mail systems accept.
    #[error("the email address is longer than {MAX_EMAIL_CHARS} characters")]
    TooLong,
    /// Whitespace inside an address is never valid (surrounding whitespace is trimmed).
    #[error("the email address contains whitespace")]
    ContainsWhitespace,
    /// No `@` separates the mailbox from the domain.
    #[error("the email address has no '@'")]
    MissingAt,
    /// More than one `@`: the address is ambiguous.
    #[error("the email address has more than one '@'")]
    MultipleAt,
    /// Nothing before the `@`.
    #[error("the email address has nothing before the '@'")]
    EmptyLocalPart,
    /// Nothing after the `@`.
    #[error("the email address has nothing after the '@'")]
    EmptyDomain,
    /// A character whose compatibility form holds a space or an `@` (a spacing accent
    /// such as `¨`, a fullwidth `＠`): normalised, the address would change shape.
    #[error("the email address has a character that becomes a space or an '@' when normalised")]
    ChangesShape,
}

/// The characters whose NFKC form holds a space or an `@` (computed from the Unicode
/// data: spacing accents, Greek and Katakana spacing marks, Arabic presentation forms,
/// small and fullwidth commercial at, overlines).
const SHAPE_CHANGING: &[(char, char)] = &[
    ('\u{00A8}', '\u{00A8}'),
    ('\u{00AF}', '\u{00AF}'),
    ('\u{00B4}', '\u{00B4}'),
    ('\u{00B8}', '\u{00B8}'),
    ('\u{02D8}', '\u{02DD}'),
    ('\u{037A}', '\u{037A}'),
    ('\u{0384}', '\u{0385}'),
    ('\u{1FBD}', '\u{1FBD}'),
    ('\u{1FBF}', '\u{1FC1}'),
    ('\u{1FCD}', '\u{1FCF}'),
    ('\u{1FDD}', '\u{1FDF}'),
    ('\u{1FED}', '\u{1FEE}'),
    ('\u{1FFD}', '\u{1FFE}'),
    ('\u{2017}', '\u{2017}'),
    ('\u{203E}', '\u{203E}'),
    ('\u{309B}', '\u{309C}'),
    ('\u{FC5E}', '\u{FC63}'),
    ('\u{FDFA}', '\u{FDFB}'),
    ('\u{FE49}', '\u{FE4C}'),
    ('\u{FE6B}', '\u{FE6B}'),
    ('\u{FE70}', '\u{FE70}'),
    ('\u{FE72}', '\u{FE72}'),
    ('\u{FE74}', '\u{FE74}'),
    ('\u{FE76}', '\u{FE76}'),
    ('\u{FE78}', '\u{FE78}'),
    ('\u{FE7A}', '\u{FE7A}'),
    ('\u{FE7C}', '\u{FE7C}'),
    ('\u{FE7E}', '\u{FE7E}'),
    ('\u{FF20}', '\u{FF20}'),
    ('\u{FFE3}', '\u{FFE3}'),
];

fn changes_shape(c: char) -> bool {
    SHAPE_CHANGING
        .iter()
        .any(|(first, last)| (*first..=*last).contains(&c))
}

impl Email {
    /// Normalises `raw` (NFKC, trimmed, lowercased), then checks the shape of the result.
    ///
    /// # Errors
    /// The first rule of [`EmailError`] the normalised address breaks.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        // Counted as typed: normalising may lengthen an address (`ﬁ` → `fi`, `İ` → `i̇`),
        // and the limit is the one clients are told.
        if raw.trim().chars().count() > MAX_EMAIL_CHARS {
            return Err(EmailError::TooLong);
        }
        if raw.chars().any(changes_shape) {
            return Err(EmailError::ChangesShape);
        }
        Self::shaped(normalise(raw))
    }

    /// How addresses were read before NFKC normalisation: trimmed and lower-cased only.
    /// Kept for stored registrations only (see `TryFrom<String>`).
    fn legacy(raw: &str) -> Result<Self, EmailError> {
        let lowered = raw.trim().to_lowercase();
        if lowered.chars().count() > MAX_EMAIL_CHARS {
            return Err(EmailError::TooLong);
        }
        Self::shaped(lowered)
    }

    /// Checks the shape of an already normalised address.
    fn shaped(normalised: String) -> Result<Self, EmailError> {
        if normalised.is_empty() {
            return Err(EmailError::Empty);
        }
        if normalised.chars().any(char::is_whitespace) {
            return Err(EmailError::ContainsWhitespace);
        }
        let Some((local, domain)) = normalised.split_once('@') else {
            return Err(EmailError::MissingAt);
        };
        if domain.contains('@') {
            return Err(EmailError::MultipleAt);
        }
        if local.is_empty() {
            return Err(EmailError::EmptyLocalPart);
        }
        if domain.is_empty() {
            return Err(EmailError::EmptyDomain);
        }
        Ok(Self(normalised))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the `@`.
    #[must_use]
    pub fn local_part(&self) -> &str {
        self.0.split_once('@').map_or("", |(local, _)| local)
    }

    /// The part after the `@`.
    #[must_use]
    pub fn domain(&self) -> &str {
        self.0.split_once('@').map_or("", |(_, domain)| domain)
    }

    #[must_use]
    pub fn into_string(self) -> String {
        self.0
    }
}

/// NFKC first (so fullwidth letters and spaces become plain ones before trimming and
/// lowercasing), and again after lowercasing, which can leave a string unnormalised.
fn normalise(raw: &str) -> String {
    let compatible: String = raw.nfkc().collect();
    compatible.trim().to_lowercase().nfkc().collect()
}

impl FromStr for Email {
    type Err = EmailError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

// Stored events are re-parsed on load, so an `Email` read back keeps its guarantees. An
// address an older version accepted (it only lower-cased) whose normalised form breaks
// today's rules (a `¨`, a fullwidth `＠`) is kept as it was stored: its account must
// still load.
impl TryFrom<String> for Email {
    type Error = EmailError;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw).or_else(|error| Self::legacy(&raw).map_err(|_| error))
    }
}

impl From<Email> for String {
    fn from(email: Email) -> Self {
        email.0
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn parsing_trims_and_lowercases_the_address() {
        let email = Email::parse("  Clara.Schumann@Example.ORG \n").unwrap();
        assert_eq!(email.as_str(), "clara.schumann@example.org");
        assert_eq!(email.local_part(), "clara.schumann");
        assert_eq!(email.domain(), "example.org");
    }

    #[test]
    fn lowercasing_is_unicode_aware() {
        let email = Email::parse("ÉLODIE@Société.FR").unwrap();
        assert_eq!(email.as_str(), "élodie@société.fr");
        assert_eq!(email, Email::parse("élodie@SOCIÉTÉ.fr").unwrap());
    }

    #[test]
    fn composed_decomposed_and_fullwidth_forms_are_one_address() {
        let composed = Email::parse("caf\u{e9}@x.com").unwrap();
        let decomposed = Email::parse("cafe\u{301}@x.com").unwrap();
        assert_eq!(composed, decomposed);
        assert_eq!(composed.as_str(), "caf\u{e9}@x.com");
        let fullwidth = Email::parse("\u{ff43}\u{ff41}\u{ff53}\u{ff45}@x.com").unwrap();
        assert_eq!(fullwidth, Email::parse("CASE@x.com").unwrap());
        assert_eq!(fullwidth.as_str(), "case@x.com");
    }

    #[test]
    fn characters_that_normalise_to_a_space_or_an_at_sign_are_refused() {
        for raw in [
            "a\u{b8}@x.com",
            "a@x\u{a8}.com",
            "a\u{ff20}x.com",
            "a\u{fe6b}b@x.com",
        ] {
            assert_eq!(Email::parse(raw), Err(EmailError::ChangesShape), "{raw}");
        }
    }

    #[test]
    fn a_stored_address_older_rules_accepted_still_loads() {
        let stored = "\"a\u{ff20}b@x.com\"";
        let email: Email = serde_json::from_str(stored).unwrap();
        assert_eq!(email.as_str(), "a\u{ff20}b@x.com");
        assert!(serde_json::from_str::<Email>("\"no-at-sign\"").is_err());
    }

    #[test]
    fn every_shape_changing_character_is_listed() {
        use unicode_normalization::UnicodeNormalization;
        for c in (0..=0x10FFFF_u32).filter_map(char::from_u32) {
            if c.is_whitespace() || c.is_control() || c == '@' {
                continue;
            }
            let normalised: String = std::iter::once(c).nfkc().collect();
            let changes = normalised != c.to_string()
                && normalised.chars().any(|n| n.is_whitespace() || n == '@');
            assert_eq!(changes, changes_shape(c), "U+{:04X}", u32::from(c));
        }
    }

    #[test]
    fn fullwidth_spaces_around_the_address_are_trimmed() {
        let email = Email::parse("\u{3000}case@x.com\u{3000}").unwrap();
        assert_eq!(email.as_str(), "case@x.com");
    }

    #[test]
    fn an_empty_address_is_refused() {
        assert_eq!(Email::parse("   "), Err(EmailError::Empty));
    }

    #[test]
    fn an_address_without_an_at_sign_is_refused() {
        assert_eq!(
            Email::parse("clara.example.org"),
            Err(EmailError::MissingAt)
        );
    }

    #[test]
    fn an_address_with_two_at_signs_is_refused() {
        assert_eq!(Email::parse("a@b@example.org"), Err(EmailError::MultipleAt));
    }

    #[test]
    fn an_address_with_an_empty_local_part_is_refused() {
        assert_eq!(
            Email::parse("@example.org"),
            Err(EmailError::EmptyLocalPart)
        );
    }

    #[test]
    fn an_address_with_an_empty_domain_is_refused() {
        assert_eq!(Email::parse("clara@"), Err(EmailError::EmptyDomain));
    }

    #[test]
    fn an_address_with_inner_whitespace_is_refused() {
        assert_eq!(
            Email::parse("clara schumann@example.org"),
            Err(EmailError::ContainsWhitespace)
        );
    }

    #[test]
    fn an_address_of_254_characters_is_accepted_and_255_refused() {
        let domain = "@example.org";
        let fits = format!("{}{domain}", "a".repeat(MAX_EMAIL_CHARS - domain.len()));
        assert!(Email::parse(&fits).is_ok());
        let too_long = format!("a{fits}");
        assert_eq!(Email::parse(&too_long), Err(EmailError::TooLong));
    }

    #[test]
    fn deserializing_normalises_and_validates() {
        let email: Email = serde_json::from_str("\"Bob@Example.org\"").unwrap();
        assert_eq!(email.as_str(), "bob@example.org");
        assert_eq!(
            serde_json::to_string(&email).unwrap(),
            "\"bob@example.org\""
        );
        assert!(serde_json::from_str::<Email>("\"no-at-sign\"").is_err());
    }
}
