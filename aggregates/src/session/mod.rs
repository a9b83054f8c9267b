//! One login session, holding the refresh-token chain of one device.
//!
//! Invariants:
//! - A session is started once; every other command needs a started session.
//! - Exactly one refresh token id is current. Rotating it needs the current id, before
//!   the session's expiry; the id it replaces can never be used again.
//! - Presenting a token id that was already rotated away means the token leaked: the
//!   session is revoked (`refresh_reuse`) and the decision succeeds so that the revocation
//!   is persisted, while the caller answers "invalid token".
//! - A revoked session stays revoked: it never rotates again.
//!
//! Idempotent commands (no events when repeated): `RevokeSession` of a revoked session,
//! and `RotateRefreshToken` repeating the rotation that produced the current token (same
//! presented and next ids; the next id is minted by the server, so a client cannot forge
//! such a retry).

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::{SessionId, UserId};

#[cfg(test)]
mod tests;

/// Why a session ended before its expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevocationReason {
    /// The user signed out.
    Logout,
    /// A refresh token was presented after it had been rotated: it was probably stolen.
    RefreshReuse,
}

impl RevocationReason {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::RefreshReuse => "refresh_reuse",
        }
    }
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionCommand {
    /// Opens a session after a successful login, with its first refresh token id.
    StartSession {
        session_id: SessionId,
        user_id: UserId,
        refresh_token_id: Uuid,
        expires_at: DateTime<Utc>,
    },
    /// Exchanges the presented refresh token for a new one (`next_token_id`, minted by the
    /// caller), extending the session to `expires_at`.
    RotateRefreshToken {
        presented_token_id: Uuid,
        next_token_id: Uuid,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    },
    /// Ends the session: its refresh and access tokens stop working.
    RevokeSession { reason: RevocationReason },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionEvent {
    /// A user signed in; `refresh_token_id` is the session's first refresh token.
    SessionStarted {
        session_id: SessionId,
        user_id: UserId,
        refresh_token_id: Uuid,
        expires_at: DateTime<Utc>,
    },
    /// `previous_token_id` was exchanged for `next_token_id`; the session now lasts until
    /// `expires_at`.
    RefreshTokenRotated {
        previous_token_id: Uuid,
        next_token_id: Uuid,
        expires_at: DateTime<Utc>,
    },
    /// The session ended for `reason`; none of its tokens work any more.
    SessionRevoked { reason: RevocationReason },
}

impl DomainEvent for SessionEvent {
    fn event_type(&self) -> String {
        match self {
            Self::SessionStarted { .. } => "SessionStarted",
            Self::RefreshTokenRotated { .. } => "RefreshTokenRotated",
            Self::SessionRevoked { .. } => "SessionRevoked",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// The session was already started; a login opens a new session.
    #[error("the session is already started")]
    AlreadyStarted,
    /// The session was never started.
    #[error("the session was never started")]
    NotStarted,
    /// The session was revoked (logout or token reuse); it cannot be refreshed.
    #[error("the session is revoked")]
    Revoked,
    /// The session outlived its expiry; the user must sign in again.
    #[error("the session has expired")]
    Expired,
    /// The presented token id never belonged to this session.
    #[error("the refresh token does not belong to this session")]
    UnknownRefreshToken,
    /// The caller offered a next token id this session already used: ids must be fresh, or
    /// reuse detection would be fooled.
    #[error("the next refresh token id was already used by this session")]
    NextTokenIdNotFresh,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    session_id: Option<SessionId>,
    user_id: Option<UserId>,
    current_token_id: Option<Uuid>,
    /// Every token id rotated away, with the id it was exchanged for.
    rotated: BTreeMap<Uuid, Uuid>,
    expires_at: Option<DateTime<Utc>>,
    revoked: Option<RevocationReason>,
}

impl Session {
    #[must_use]
    pub const fn is_started(&self) -> bool {
        self.session_id.is_some()
    }

    #[must_use]
    pub const fn session_id(&self) -> Option<SessionId> {
        self.session_id
    }

    #[must_use]
    pub const fn user_id(&self) -> Option<UserId> {
        self.user_id
    }

    /// The only refresh token id that can be exchanged now.
    #[must_use]
    pub const fn current_refresh_token_id(&self) -> Option<Uuid> {
        self.current_token_id
    }

    #[must_use]
    pub const fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.expires_at
    }

    #[must_use]
    pub const fn is_revoked(&self) -> bool {
        self.revoked.is_some()
    }

    #[must_use]
    pub const fn revocation_reason(&self) -> Option<RevocationReason> {
        self.revoked
    }

    /// Whether tokens of this session are honoured at `now`.
    #[must_use]
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        !self.is_revoked() && self.expires_at.is_some_and(|expires_at| now < expires_at)
    }

    /// Decides what a command changes, without changing anything.
    ///
    /// # Errors
    /// The [`SessionError`] naming the rule the command breaks.
    pub fn decide(&self, command: SessionCommand) -> Result<Vec<SessionEvent>, SessionError> {
        match command {
            SessionCommand::StartSession {
                session_id,
                user_id,
                refresh_token_id,
                expires_at,
            } => {
                if self.is_started() {
                    return Err(SessionError::AlreadyStarted);
                }
                Ok(vec![SessionEvent::SessionStarted {
                    session_id,
                    user_id,
                    refresh_token_id,
                    expires_at,
                }])
            }
            SessionCommand::RotateRefreshToken {
                presented_token_id,
                next_token_id,
                now,
                expires_at,
            } => self.rotate(presented_token_id, next_token_id, now, expires_at),
            SessionCommand::RevokeSession { reason } => {
                if !self.is_started() {
                    return Err(SessionError::NotStarted);
                }
                if self.is_revoked() {
                    return Ok(vec![]);
                }
                Ok(vec![SessionEvent::SessionRevoked { reason }])
            }
        }
    }

    fn rotate(
        &self,
        presented: Uuid,
        next: Uuid,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Vec<SessionEvent>, SessionError> {
        let (Some(current), Some(session_expiry)) = (self.current_token_id, self.expires_at) else {
            return Err(SessionError::NotStarted);
        };
        if self.is_revoked() {
            return Err(SessionError::Revoked);
        }
        if current == next && self.rotated.get(&presented) == Some(&next) {
            return Ok(vec![]);
        }
        if now >= session_expiry {
            return Err(SessionError::Expired);
        }
        if presented == current {
            if next == current || self.rotated.contains_key(&next) {
                return Err(SessionError::NextTokenIdNotFresh);
            }
            return Ok(vec![SessionEvent::RefreshTokenRotated {
                previous_token_id: presented,
                next_token_id: next,
                expires_at,
            }]);
        }
        if self.rotated.contains_key(&presented) {
            return Ok(vec![SessionEvent::SessionRevoked {
                reason: RevocationReason::RefreshReuse,
            }]);
        }
        Err(SessionError::UnknownRefreshToken)
    }
}

crate::sink::decided_aggregate!(
    Session,
    "Session",
    SessionCommand,
    SessionEvent,
    SessionError
);

impl Session {
    /// The state after `event` (what cqrs-es calls `apply`).
    // By value, as cqrs-es hands events over, though every field here is `Copy`.
    #[allow(clippy::needless_pass_by_value)]
    fn evolve(&mut self, event: SessionEvent) {
        match event {
            SessionEvent::SessionStarted {
                session_id,
                user_id,
                refresh_token_id,
                expires_at,
            } => {
                self.session_id = Some(session_id);
                self.user_id = Some(user_id);
                self.current_token_id = Some(refresh_token_id);
                self.expires_at = Some(expires_at);
            }
            SessionEvent::RefreshTokenRotated {
                previous_token_id,
                next_token_id,
                expires_at,
            } => {
                self.rotated.insert(previous_token_id, next_token_id);
                self.current_token_id = Some(next_token_id);
                self.expires_at = Some(expires_at);
            }
            SessionEvent::SessionRevoked { reason } => self.revoked = Some(reason),
        }
    }
}
