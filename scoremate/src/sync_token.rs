//! The change feed's resume token: how far the caller's feed has read each read model it
//! serves from, as log cursors, sealed to the caller with an HMAC. Opaque to clients; an
//! edited token, one of another user, or one sealed under another secret does not open.
//!
//! Layout before base64url: a format byte, then the three cursors as six big-endian
//! `i64`s (scores, setlists, quota), then the first 16 bytes of
//! `HMAC-SHA256(key, format ‖ user id ‖ cursors)`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use eventstore::LogCursor;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

const FORMAT: u8 = 1;
const CURSORS_LEN: usize = 6 * 8;
const TAG_LEN: usize = 16;
const TOKEN_LEN: usize = 1 + CURSORS_LEN + TAG_LEN;

/// Where a client's feed stands in each read model it reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncToken {
    pub scores: LogCursor,
    pub setlists: LogCursor,
    pub quota: LogCursor,
}

impl SyncToken {
    fn cursors(&self) -> [u8; CURSORS_LEN] {
        let mut bytes = [0; CURSORS_LEN];
        let values = [
            self.scores.transaction_id,
            self.scores.position,
            self.setlists.transaction_id,
            self.setlists.position,
            self.quota.transaction_id,
            self.quota.position,
        ];
        for (slot, value) in bytes.chunks_exact_mut(8).zip(values) {
            slot.copy_from_slice(&value.to_be_bytes());
        }
        bytes
    }

    fn from_cursors(bytes: &[u8]) -> Option<Self> {
        let mut values = bytes
            .chunks_exact(8)
            .map(|chunk| chunk.try_into().ok().map(i64::from_be_bytes));
        let mut cursor = || {
            Some(LogCursor {
                transaction_id: values.next()??,
                position: values.next()??,
            })
        };
        Some(Self {
            scores: cursor()?,
            setlists: cursor()?,
            quota: cursor()?,
        })
    }
}

/// Seals and opens tokens; derived from the service's signing secret, so every instance
/// behind one proxy opens the others' tokens.
#[derive(Clone)]
pub struct SyncTokenKey {
    key: [u8; 32],
}

impl std::fmt::Debug for SyncTokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SyncTokenKey([redacted])")
    }
}

type HmacSha256 = Hmac<Sha256>;

impl SyncTokenKey {
    /// A key of its own, so that a sync token is never also a valid MAC of anything the
    /// secret signs elsewhere.
    pub fn derive(secret: &str) -> Self {
        let mut mac = keyed(secret.as_bytes());
        mac.update(b"scoremate sync token");
        Self {
            key: mac.finalize().into_bytes().into(),
        }
    }

    pub fn seal(&self, user: &str, token: &SyncToken) -> String {
        let cursors = token.cursors();
        let mut bytes = Vec::with_capacity(TOKEN_LEN);
        bytes.push(FORMAT);
        bytes.extend_from_slice(&cursors);
        bytes.extend_from_slice(&self.tag(user, &cursors)[..TAG_LEN]);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The token, if `text` is one this key sealed for `user`.
    pub fn open(&self, user: &str, text: &str) -> Option<SyncToken> {
        if text.len() > TOKEN_LEN * 2 {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        let (&format, rest) = bytes.split_first()?;
        if format != FORMAT || rest.len() != CURSORS_LEN + TAG_LEN {
            return None;
        }
        let (cursors, tag) = rest.split_at(CURSORS_LEN);
        self.mac(user, cursors).verify_truncated_left(tag).ok()?;
        SyncToken::from_cursors(cursors)
    }

    fn mac(&self, user: &str, cursors: &[u8]) -> HmacSha256 {
        let mut mac = keyed(&self.key);
        mac.update(&[FORMAT]);
        mac.update(user.as_bytes());
        mac.update(cursors);
        mac
    }

    fn tag(&self, user: &str, cursors: &[u8]) -> [u8; 32] {
        self.mac(user, cursors).finalize().into_bytes().into()
    }
}

fn keyed(key: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length.
    match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> SyncToken {
        SyncToken {
            scores: LogCursor {
                transaction_id: 812,
                position: 4,
            },
            setlists: LogCursor {
                transaction_id: 0,
                position: i64::MAX,
            },
            quota: LogCursor::START,
        }
    }

    #[test]
    fn a_sealed_token_opens_for_its_user_only() {
        let key = SyncTokenKey::derive("secret");
        let sealed = key.seal("alice", &token());
        assert_eq!(key.open("alice", &sealed), Some(token()));
        assert_eq!(key.open("bob", &sealed), None);
        assert_eq!(SyncTokenKey::derive("other").open("alice", &sealed), None);
    }

    #[test]
    fn an_edited_or_malformed_token_does_not_open() {
        let key = SyncTokenKey::derive("secret");
        let sealed = key.seal("alice", &token());
        let mut bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap_or_default();
        bytes[8] ^= 1;
        assert_eq!(key.open("alice", &URL_SAFE_NO_PAD.encode(&bytes)), None);
        for text in ["", "not base64!", "AQ", &"A".repeat(10_000), &sealed[1..]] {
            assert_eq!(key.open("alice", text), None, "{text}");
        }
    }
}
