//! Taking JSON Web Tokens apart and putting forged ones together, without a JWT crate.
//!
//! Tests cannot sign HS256 (no HMAC here), so forgeries are built from real tokens:
//! another header, an edited payload that keeps its signature, or the signature of a
//! token issued by a server with another secret.

use serde_json::Value;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64url (RFC 4648 §5) without padding, as JWTs use it.
pub fn base64url_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let sextets = [(n >> 18) & 63, (n >> 12) & 63, (n >> 6) & 63, n & 63];
        for sextet in &sextets[..=chunk.len()] {
            out.push(char::from(ALPHABET[*sextet as usize]));
        }
    }
    out
}

/// Decodes base64url with or without padding; `None` on any other character.
pub fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for byte in text.bytes() {
        let value = ALPHABET.iter().position(|&symbol| symbol == byte)?;
        // Only the low bits are ever read; keep the buffer from overflowing.
        buffer = ((buffer << 6) | u32::try_from(value).ok()?) & 0xffff;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xff).ok()?);
        }
    }
    // Leftover bits must be zero padding of a legal length (a lone sextet is not).
    (bits < 6 && buffer & ((1 << bits) - 1) == 0).then_some(out)
}

/// The three dot-separated parts of a compact JWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jwt {
    pub header: String,
    pub payload: String,
    pub signature: String,
}

impl Jwt {
    /// Splits `token`; panics unless it has exactly three parts.
    pub fn parse(token: &str) -> Self {
        let parts: Vec<&str> = token.split('.').collect();
        let [header, payload, signature] = parts[..] else {
            panic!("not a compact JWT (expected three dot-separated parts): {token:?}");
        };
        Self {
            header: header.to_owned(),
            payload: payload.to_owned(),
            signature: signature.to_owned(),
        }
    }

    pub fn header_json(&self) -> Value {
        decode_json_part(&self.header, "header")
    }

    pub fn claims(&self) -> Value {
        decode_json_part(&self.payload, "payload")
    }

    /// The same token with `header` encoded in place of its own.
    #[must_use]
    pub fn with_header(&self, header: &Value) -> Self {
        Self {
            header: encode_json_part(header),
            ..self.clone()
        }
    }

    /// The same token with `claims` encoded in place of its payload, signature kept.
    #[must_use]
    pub fn with_claims(&self, claims: &Value) -> Self {
        Self {
            payload: encode_json_part(claims),
            ..self.clone()
        }
    }

    #[must_use]
    pub fn with_signature(&self, signature: &str) -> Self {
        Self {
            signature: signature.to_owned(),
            ..self.clone()
        }
    }

    pub fn encode(&self) -> String {
        format!("{}.{}.{}", self.header, self.payload, self.signature)
    }
}

/// The claims of `token`.
pub fn claims(token: &str) -> Value {
    Jwt::parse(token).claims()
}

/// What follows the last `.` of a token (the whole token if it has none): the part whose
/// leak would let a reader check guesses offline, so logs must never show it.
pub fn signature_part(token: &str) -> &str {
    token.rsplit('.').next().unwrap_or(token)
}

fn decode_json_part(part: &str, what: &str) -> Value {
    let bytes = base64url_decode(part).unwrap_or_else(|| panic!("JWT {what} is not base64url"));
    serde_json::from_slice(&bytes).unwrap_or_else(|error| panic!("JWT {what} is not JSON: {error}"))
}

fn encode_json_part(value: &Value) -> String {
    base64url_encode(value.to_string().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_round_trips_the_rfc_4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64url_encode(plain.as_bytes()), encoded);
            assert_eq!(base64url_decode(encoded).as_deref(), Some(plain.as_bytes()));
        }
    }

    #[test]
    fn base64url_uses_the_url_safe_alphabet() {
        assert_eq!(base64url_encode(&[0xfb, 0xff, 0xbf]), "-_-_");
        assert_eq!(
            base64url_decode("-_-_").as_deref(),
            Some(&[0xfb, 0xff, 0xbf][..])
        );
        assert_eq!(base64url_decode("+/+/"), None);
        assert_eq!(base64url_decode("Z"), None, "a lone sextet is not a byte");
    }

    #[test]
    fn a_token_is_taken_apart_and_put_back_together() {
        let header = serde_json::json!({"alg": "HS256", "typ": "JWT"});
        let claims = serde_json::json!({"sub": "someone"});
        let token = format!(
            "{}.{}.c2ln",
            encode_json_part(&header),
            encode_json_part(&claims)
        );
        let jwt = Jwt::parse(&token);
        assert_eq!(jwt.header_json(), header);
        assert_eq!(jwt.claims(), claims);
        assert_eq!(jwt.encode(), token);
        assert_eq!(signature_part(&token), "c2ln");
    }
}
