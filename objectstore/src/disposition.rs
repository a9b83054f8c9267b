//! User-supplied file names on their way into a download's `Content-Disposition`
//! header: what they must not hold, and how they are encoded.

/// Characters a file name must not hold: controls, and the invisible ones that change how
/// the rest is shown — bidi overrides and isolates (U+202E turns `evil\u{202E}fdp.exe`
/// into what looks like `evilexe.pdf`), line and paragraph separators, zero-width space
/// and byte-order mark. Joiners stay allowed: emoji and Persian names need them.
#[must_use]
pub fn is_disguising_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200B}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{2066}'..='\u{2069}'
                | '\u{FEFF}'
        )
}

/// A `Content-Disposition: attachment` value for a user-supplied file name (RFC 6266),
/// safe to put in a header: an ASCII `filename` fallback for old clients plus the exact
/// name as RFC 5987 `filename*`.
///
/// Path separators and control characters are replaced by `_` in both forms (a download
/// must never suggest a directory or smuggle a header line); the fallback also replaces
/// non-ASCII characters, quotes, backslashes and `%` (some clients percent-decode it).
#[must_use]
pub fn content_disposition_attachment(filename: &str) -> String {
    let cleaned: String = filename
        .trim()
        .chars()
        .map(|c| {
            if is_disguising_char(c) || c == '/' || c == '\\' {
                '_'
            } else {
                c
            }
        })
        .collect();
    let cleaned = cleaned.trim();
    let cleaned = if cleaned.is_empty() {
        "download"
    } else {
        cleaned
    };

    let fallback: String = cleaned
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '%' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::with_capacity(cleaned.len() * 3);
    for byte in cleaned.bytes() {
        if is_rfc5987_attr_char(byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

/// `attr-char` of RFC 5987 §3.2.1: the bytes that may appear unencoded in `filename*`.
fn is_rfc5987_attr_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_ascii_name_is_kept_in_both_forms() {
        assert_eq!(
            content_disposition_attachment("Bach - Partita 2.pdf"),
            "attachment; filename=\"Bach - Partita 2.pdf\"; filename*=UTF-8''Bach%20-%20Partita%202.pdf"
        );
    }

    #[test]
    fn a_korean_name_gets_an_ascii_fallback_and_an_exact_utf8_form() {
        assert_eq!(
            content_disposition_attachment("아리랑.pdf"),
            "attachment; filename=\"___.pdf\"; filename*=UTF-8''%EC%95%84%EB%A6%AC%EB%9E%91.pdf"
        );
    }

    #[test]
    fn quotes_and_backslashes_cannot_break_out_of_the_quoted_fallback() {
        let value = content_disposition_attachment("a\"b\\c.pdf");
        assert_eq!(
            value,
            "attachment; filename=\"a_b_c.pdf\"; filename*=UTF-8''a%22b_c.pdf"
        );
    }

    #[test]
    fn line_breaks_cannot_inject_a_header() {
        let value = content_disposition_attachment("x.pdf\r\nSet-Cookie: a=b");
        assert!(!value.contains('\r') && !value.contains('\n'));
        assert_eq!(
            value,
            "attachment; filename=\"x.pdf__Set-Cookie: a=b\"; filename*=UTF-8''x.pdf__Set-Cookie%3A%20a%3Db"
        );
        assert!(http_header_value_is_valid(&value));
    }

    #[test]
    fn path_segments_do_not_survive_as_directories() {
        assert_eq!(
            content_disposition_attachment("../../etc/passwd"),
            "attachment; filename=\".._.._etc_passwd\"; filename*=UTF-8''.._.._etc_passwd"
        );
        assert_eq!(
            content_disposition_attachment("..\\win.ini"),
            "attachment; filename=\".._win.ini\"; filename*=UTF-8''.._win.ini"
        );
    }

    #[test]
    fn percent_signs_are_kept_out_of_the_fallback_and_encoded_in_the_utf8_form() {
        assert_eq!(
            content_disposition_attachment("100%25.pdf"),
            "attachment; filename=\"100_25.pdf\"; filename*=UTF-8''100%2525.pdf"
        );
    }

    #[test]
    fn bidi_overrides_cannot_disguise_the_extension() {
        let header = content_disposition_attachment("invoice\u{202E}fdp.exe");
        assert!(!header.contains('\u{202E}'));
        assert!(header.contains("filename=\"invoice_fdp.exe\""));
        assert!(header.contains("filename*=UTF-8''invoice_fdp.exe"));
        assert!(is_disguising_char('\u{2067}'));
        assert!(!is_disguising_char('\u{200D}'));
    }

    #[test]
    fn an_empty_name_becomes_download() {
        assert_eq!(
            content_disposition_attachment(" \t "),
            "attachment; filename=\"download\"; filename*=UTF-8''download"
        );
    }

    #[test]
    fn every_value_is_a_valid_header_value() {
        for name in [
            "악보 (최종).pdf",
            "ü\u{7f}\u{0}.pdf",
            "😀.pdf",
            "a;b=c,d.pdf",
        ] {
            let value = content_disposition_attachment(name);
            assert!(http_header_value_is_valid(&value), "{value}");
        }
    }

    /// Visible ASCII and spaces only: what every HTTP stack accepts in a header value.
    fn http_header_value_is_valid(value: &str) -> bool {
        value
            .bytes()
            .all(|byte| byte == b' ' || byte.is_ascii_graphic())
    }
}
