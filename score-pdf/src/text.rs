//! PDF text strings (Info dictionary values) to Rust strings.
//!
//! A text string is UTF-16BE when it starts with the BOM `FE FF`, UTF-8 when it starts
//! with `EF BB BF` (PDF 2.0), and PDFDocEncoding otherwise. UTF-16LE with `FF FE` is not
//! allowed by the standard but written by some tools; it is read too.

/// Decodes a PDF text string; undecodable units become U+FFFD.
pub(crate) fn decode_text_string(bytes: &[u8]) -> String {
    if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        strip_language_escapes(&decode_utf16(rest, u16::from_be_bytes))
    } else if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        strip_language_escapes(&decode_utf16(rest, u16::from_le_bytes))
    } else if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        String::from_utf8_lossy(rest).into_owned()
    } else {
        bytes.iter().map(|&byte| pdf_doc_char(byte)).collect()
    }
}

/// Trimmed, and `None` when nothing is left.
pub(crate) fn clean(text: &str) -> Option<String> {
    let trimmed = text.trim_matches(|c: char| c.is_whitespace() || c == '\0');
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

fn decode_utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> String {
    let units = bytes.chunks_exact(2).map(|pair| unit([pair[0], pair[1]]));
    char::decode_utf16(units)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

/// Unicode text strings may carry a language tag between two U+001B (ESC) characters.
fn strip_language_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_escape = false;
    for c in text.chars() {
        if c == '\u{1B}' {
            in_escape = !in_escape;
        } else if !in_escape {
            out.push(c);
        }
    }
    out
}

/// PDFDocEncoding (ISO 32000-1, Annex D.2): Latin-1 except for these code points.
fn pdf_doc_char(byte: u8) -> char {
    match byte {
        0x18 => '\u{02D8}',
        0x19 => '\u{02C7}',
        0x1A => '\u{02C6}',
        0x1B => '\u{02D9}',
        0x1C => '\u{02DD}',
        0x1D => '\u{02DB}',
        0x1E => '\u{02DA}',
        0x1F => '\u{02DC}',
        0x80 => '\u{2022}',
        0x81 => '\u{2020}',
        0x82 => '\u{2021}',
        0x83 => '\u{2026}',
        0x84 => '\u{2014}',
        0x85 => '\u{2013}',
        0x86 => '\u{0192}',
        0x87 => '\u{2044}',
        0x88 => '\u{2039}',
        0x89 => '\u{203A}',
        0x8A => '\u{2212}',
        0x8B => '\u{2030}',
        0x8C => '\u{201E}',
        0x8D => '\u{201C}',
        0x8E => '\u{201D}',
        0x8F => '\u{2018}',
        0x90 => '\u{2019}',
        0x91 => '\u{201A}',
        0x92 => '\u{2122}',
        0x93 => '\u{FB01}',
        0x94 => '\u{FB02}',
        0x95 => '\u{0141}',
        0x96 => '\u{0152}',
        0x97 => '\u{0160}',
        0x98 => '\u{0178}',
        0x99 => '\u{017D}',
        0x9A => '\u{0131}',
        0x9B => '\u{0142}',
        0x9C => '\u{0153}',
        0x9D => '\u{0161}',
        0x9E => '\u{017E}',
        0xA0 => '\u{20AC}',
        0x7F | 0x9F | 0xAD => char::REPLACEMENT_CHARACTER,
        other => char::from(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16be_with_bom_is_decoded_including_surrogate_pairs() {
        let mut bytes = vec![0xFE, 0xFF];
        for unit in "아리랑 𝄞".encode_utf16() {
            bytes.extend_from_slice(&unit.to_be_bytes());
        }
        assert_eq!(decode_text_string(&bytes), "아리랑 𝄞");
    }

    #[test]
    fn pdf_doc_encoding_maps_its_own_code_points_and_latin1() {
        assert_eq!(
            decode_text_string(b"\xC9l\xE9gie \x84 \x93n \xA0"),
            "Élégie — ﬁn €"
        );
    }

    #[test]
    fn utf8_with_bom_is_decoded() {
        assert_eq!(decode_text_string("\u{FEFF}Élégie".as_bytes()), "Élégie");
    }

    #[test]
    fn a_language_tag_in_a_unicode_string_is_dropped() {
        let mut bytes = vec![0xFE, 0xFF];
        for unit in "\u{1B}ko\u{1B}아리랑".encode_utf16() {
            bytes.extend_from_slice(&unit.to_be_bytes());
        }
        assert_eq!(decode_text_string(&bytes), "아리랑");
    }

    #[test]
    fn blank_values_are_none() {
        assert_eq!(clean("  \0 "), None);
        assert_eq!(clean(" Élégie \n"), Some("Élégie".to_owned()));
    }
}
