//! A user's storage ledger, one per user, the stream auditors replay.
//!
//! Invariants:
//! - `used + reserved <= limit` after every command but `SetQuotaLimit`, counted in bytes:
//!   reaching the limit exactly is allowed, one byte more is refused. Lowering the limit
//!   below usage is allowed; it then blocks growth only (new reservations, confirmations
//!   larger than their reservation), never a confirmation within its reservation.
//! - A quota that never received `SetQuotaLimit` has a limit of 0 bytes.
//! - Each upload id is reserved at most once; its reservation goes Open → Confirmed or
//!   Open → Released and never back.
//! - A score's actual bytes count in `used` from its confirmation until its release, once.
//!
//! Idempotent commands (a retry with no new effect emits no events): `SetQuotaLimit` with
//! the current limit, `ReserveQuota` repeating an open reservation exactly, `ConfirmQuota`
//! of an already confirmed upload, `ReleaseReservation` of an already released one,
//! `ReleaseQuota` of an already released score.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use crate::bytes::Bytes;
use crate::ids::{ScoreId, UploadId};

pub mod ledger;

#[cfg(test)]
mod tests;

/// Why reserved bytes were given back without becoming a score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseReason {
    /// The upload was not confirmed before its deadline.
    Expired,
    /// The user abandoned the upload.
    Cancelled,
    /// The uploaded bytes were not acceptable (not a PDF).
    Rejected,
}

impl ReleaseReason {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
            Self::Rejected => "rejected",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum QuotaCommand {
    /// Sets how many bytes the user may store (at registration, or by an administrator).
    /// May go below current usage: then only growth is blocked.
    SetQuotaLimit { limit: Bytes },
    /// Holds `bytes` for an upload the user is about to send, until `expires_at`.
    ReserveQuota {
        upload_id: UploadId,
        bytes: Bytes,
        expires_at: DateTime<Utc>,
    },
    /// Turns an upload's reservation into used bytes, counted at the stored object's
    /// actual size, once the score exists.
    ConfirmQuota {
        upload_id: UploadId,
        score_id: ScoreId,
        actual_bytes: Bytes,
    },
    /// Gives back an unconfirmed reservation (expired, cancelled or rejected upload).
    ReleaseReservation {
        upload_id: UploadId,
        reason: ReleaseReason,
    },
    /// Frees the bytes of a deleted score.
    ReleaseQuota { score_id: ScoreId },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum QuotaEvent {
    /// The user's storage limit became `limit`. Stored as `limit_bytes` since version 2.0
    /// (1.0 said `limit`, without its unit; `upcast` reads it).
    QuotaLimitSet {
        #[serde(rename = "limit_bytes")]
        limit: Bytes,
    },
    /// `bytes` are held for an upload until `expires_at`.
    QuotaReserved {
        upload_id: UploadId,
        bytes: Bytes,
        expires_at: DateTime<Utc>,
    },
    /// An upload's reservation of `reserved_bytes` left `reserved`, and `actual_bytes`
    /// entered `used` for `score_id`.
    QuotaConfirmed {
        upload_id: UploadId,
        score_id: ScoreId,
        reserved_bytes: Bytes,
        actual_bytes: Bytes,
    },
    /// An unconfirmed reservation of `bytes` left `reserved`.
    ReservationReleased {
        upload_id: UploadId,
        bytes: Bytes,
        reason: ReleaseReason,
    },
    /// A deleted score's `bytes` left `used`.
    QuotaReleased { score_id: ScoreId, bytes: Bytes },
}

impl DomainEvent for QuotaEvent {
    fn event_type(&self) -> String {
        match self {
            Self::QuotaLimitSet { .. } => "QuotaLimitSet",
            Self::QuotaReserved { .. } => "QuotaReserved",
            Self::QuotaConfirmed { .. } => "QuotaConfirmed",
            Self::ReservationReleased { .. } => "ReservationReleased",
            Self::QuotaReleased { .. } => "QuotaReleased",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        match self {
            Self::QuotaLimitSet { .. } => "2.0",
            Self::QuotaReserved { .. }
            | Self::QuotaConfirmed { .. }
            | Self::ReservationReleased { .. }
            | Self::QuotaReleased { .. } => "1.0",
        }
        .to_owned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuotaError {
    /// The bytes asked for do not fit in what the limit leaves free. For a confirmation,
    /// `available` includes the upload's own reservation and `requested` is its actual size.
    #[error("quota exceeded: {requested} requested, {available} available")]
    QuotaExceeded { available: Bytes, requested: Bytes },
    /// A reservation must hold at least one byte.
    #[error("a reservation must be for at least one byte")]
    EmptyReservation,
    /// The upload id already has a reservation with other terms, or one that has ended:
    /// upload ids are never reused.
    #[error("upload {upload_id} already has a reservation")]
    DuplicateReservation { upload_id: UploadId },
    /// No reservation was ever made for this upload.
    #[error("no reservation for upload {upload_id}")]
    UnknownReservation { upload_id: UploadId },
    /// The reservation was released (expired, cancelled, rejected): it cannot be confirmed.
    #[error("the reservation for upload {upload_id} was already released")]
    ReservationReleased { upload_id: UploadId },
    /// The reservation already became a score: only `ReleaseQuota` can free its bytes.
    #[error("the reservation for upload {upload_id} was already confirmed")]
    ReservationConfirmed { upload_id: UploadId },
    /// No bytes were ever confirmed for this score.
    #[error("no confirmed bytes for score {score_id}")]
    UnknownScore { score_id: ScoreId },
    /// The score id already counts the bytes of another upload; counting it twice would
    /// lose track of the first upload's bytes.
    #[error("score {score_id} was already confirmed from another upload")]
    ScoreAlreadyConfirmed { score_id: ScoreId },
}

/// Where one upload's reservation stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReservationStatus {
    /// Its bytes count in `reserved`.
    Open,
    /// Its bytes moved to `used` as `actual_bytes` of `score_id`.
    Confirmed {
        score_id: ScoreId,
        actual_bytes: Bytes,
    },
    /// Its bytes were given back.
    Released { reason: ReleaseReason },
}

/// One upload's reservation, kept after it ends so upload ids are never reused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub bytes: Bytes,
    pub expires_at: DateTime<Utc>,
    pub status: ReservationStatus,
}

/// The bytes a score holds in `used`, kept after release so a retried release is a no-op.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmedScore {
    pub upload_id: UploadId,
    pub bytes: Bytes,
    pub released: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Quota {
    /// `None` until the first `SetQuotaLimit`, so that setting 0 explicitly is recorded.
    limit: Option<Bytes>,
    used: Bytes,
    reserved: Bytes,
    // BTreeMaps keep the JSON snapshot byte-for-byte deterministic.
    reservations: BTreeMap<UploadId, Reservation>,
    scores: BTreeMap<ScoreId, ConfirmedScore>,
}

impl Quota {
    /// The user's storage limit (0 until one is set).
    #[must_use]
    pub fn limit(&self) -> Bytes {
        self.limit.unwrap_or(Bytes::ZERO)
    }

    /// Bytes held by confirmed, unreleased scores.
    #[must_use]
    pub const fn used(&self) -> Bytes {
        self.used
    }

    /// Bytes held by open reservations.
    #[must_use]
    pub const fn reserved(&self) -> Bytes {
        self.reserved
    }

    /// `limit − used − reserved`, or 0 when a lowered limit is below usage.
    #[must_use]
    pub fn available(&self) -> Bytes {
        self.limit()
            .saturating_sub(self.used.saturating_add(self.reserved))
    }

    /// Whether a limit was ever set.
    #[must_use]
    pub const fn has_limit(&self) -> bool {
        self.limit.is_some()
    }

    #[must_use]
    pub fn reservation(&self, upload_id: UploadId) -> Option<&Reservation> {
        self.reservations.get(&upload_id)
    }

    /// Every reservation ever made, in upload id order.
    pub fn reservations(&self) -> impl Iterator<Item = (UploadId, &Reservation)> {
        self.reservations.iter().map(|(id, r)| (*id, r))
    }

    #[must_use]
    pub fn confirmed_score(&self, score_id: ScoreId) -> Option<&ConfirmedScore> {
        self.scores.get(&score_id)
    }

    /// Decides what a command changes, without changing anything.
    ///
    /// # Errors
    /// The [`QuotaError`] naming the rule the command breaks.
    pub fn decide(&self, command: QuotaCommand) -> Result<Vec<QuotaEvent>, QuotaError> {
        match command {
            QuotaCommand::SetQuotaLimit { limit } => Ok(self.set_limit(limit)),
            QuotaCommand::ReserveQuota {
                upload_id,
                bytes,
                expires_at,
            } => self.reserve(upload_id, bytes, expires_at),
            QuotaCommand::ConfirmQuota {
                upload_id,
                score_id,
                actual_bytes,
            } => self.confirm(upload_id, score_id, actual_bytes),
            QuotaCommand::ReleaseReservation { upload_id, reason } => {
                self.release_reservation(upload_id, reason)
            }
            QuotaCommand::ReleaseQuota { score_id } => self.release_score(score_id),
        }
    }

    fn set_limit(&self, limit: Bytes) -> Vec<QuotaEvent> {
        if self.limit == Some(limit) {
            return vec![];
        }
        vec![QuotaEvent::QuotaLimitSet { limit }]
    }

    fn reserve(
        &self,
        upload_id: UploadId,
        bytes: Bytes,
        expires_at: DateTime<Utc>,
    ) -> Result<Vec<QuotaEvent>, QuotaError> {
        if bytes.is_zero() {
            return Err(QuotaError::EmptyReservation);
        }
        // Checked before the limit: a retried reservation already holds its bytes.
        if let Some(existing) = self.reservations.get(&upload_id) {
            let same_open_reservation = existing.status == ReservationStatus::Open
                && existing.bytes == bytes
                && existing.expires_at == expires_at;
            if same_open_reservation {
                return Ok(vec![]);
            }
            return Err(QuotaError::DuplicateReservation { upload_id });
        }
        let available = self.available();
        if bytes > available {
            return Err(QuotaError::QuotaExceeded {
                available,
                requested: bytes,
            });
        }
        Ok(vec![QuotaEvent::QuotaReserved {
            upload_id,
            bytes,
            expires_at,
        }])
    }

    fn confirm(
        &self,
        upload_id: UploadId,
        score_id: ScoreId,
        actual_bytes: Bytes,
    ) -> Result<Vec<QuotaEvent>, QuotaError> {
        let Some(reservation) = self.reservations.get(&upload_id) else {
            return Err(QuotaError::UnknownReservation { upload_id });
        };
        match reservation.status {
            ReservationStatus::Open => {}
            ReservationStatus::Confirmed { .. } => return Ok(vec![]),
            ReservationStatus::Released { .. } => {
                return Err(QuotaError::ReservationReleased { upload_id });
            }
        }
        if self.scores.contains_key(&score_id) {
            return Err(QuotaError::ScoreAlreadyConfirmed { score_id });
        }
        // Within its reservation a confirmation only shrinks usage, so it is always
        // allowed, even under a limit lowered meanwhile; only the excess must fit.
        if let Some(extra) = actual_bytes.checked_sub(reservation.bytes)
            && extra > self.available()
        {
            return Err(QuotaError::QuotaExceeded {
                available: self.available().saturating_add(reservation.bytes),
                requested: actual_bytes,
            });
        }
        Ok(vec![QuotaEvent::QuotaConfirmed {
            upload_id,
            score_id,
            reserved_bytes: reservation.bytes,
            actual_bytes,
        }])
    }

    fn release_reservation(
        &self,
        upload_id: UploadId,
        reason: ReleaseReason,
    ) -> Result<Vec<QuotaEvent>, QuotaError> {
        let Some(reservation) = self.reservations.get(&upload_id) else {
            return Err(QuotaError::UnknownReservation { upload_id });
        };
        match reservation.status {
            ReservationStatus::Open => Ok(vec![QuotaEvent::ReservationReleased {
                upload_id,
                bytes: reservation.bytes,
                reason,
            }]),
            ReservationStatus::Released { .. } => Ok(vec![]),
            ReservationStatus::Confirmed { .. } => {
                Err(QuotaError::ReservationConfirmed { upload_id })
            }
        }
    }

    fn release_score(&self, score_id: ScoreId) -> Result<Vec<QuotaEvent>, QuotaError> {
        let Some(score) = self.scores.get(&score_id) else {
            return Err(QuotaError::UnknownScore { score_id });
        };
        if score.released {
            return Ok(vec![]);
        }
        Ok(vec![QuotaEvent::QuotaReleased {
            score_id,
            bytes: score.bytes,
        }])
    }
}

crate::sink::decided_aggregate!(Quota, "Quota", QuotaCommand, QuotaEvent, QuotaError);

impl Quota {
    /// The state after `event` (what cqrs-es calls `apply`). Saturating throughout: a
    /// stored stream must always load, whatever it contains.
    // By value, as cqrs-es hands events over, though every field here is `Copy`.
    #[allow(clippy::needless_pass_by_value)]
    fn evolve(&mut self, event: QuotaEvent) {
        match event {
            QuotaEvent::QuotaLimitSet { limit } => self.limit = Some(limit),
            QuotaEvent::QuotaReserved {
                upload_id,
                bytes,
                expires_at,
            } => {
                self.reserved = self.reserved.saturating_add(bytes);
                self.reservations.insert(
                    upload_id,
                    Reservation {
                        bytes,
                        expires_at,
                        status: ReservationStatus::Open,
                    },
                );
            }
            QuotaEvent::QuotaConfirmed {
                upload_id,
                score_id,
                reserved_bytes,
                actual_bytes,
            } => {
                self.reserved = self.reserved.saturating_sub(reserved_bytes);
                self.used = self.used.saturating_add(actual_bytes);
                if let Some(reservation) = self.reservations.get_mut(&upload_id) {
                    reservation.status = ReservationStatus::Confirmed {
                        score_id,
                        actual_bytes,
                    };
                }
                self.scores.insert(
                    score_id,
                    ConfirmedScore {
                        upload_id,
                        bytes: actual_bytes,
                        released: false,
                    },
                );
            }
            QuotaEvent::ReservationReleased {
                upload_id,
                bytes,
                reason,
            } => {
                self.reserved = self.reserved.saturating_sub(bytes);
                if let Some(reservation) = self.reservations.get_mut(&upload_id) {
                    reservation.status = ReservationStatus::Released { reason };
                }
            }
            QuotaEvent::QuotaReleased { score_id, bytes } => {
                self.used = self.used.saturating_sub(bytes);
                if let Some(score) = self.scores.get_mut(&score_id) {
                    score.released = true;
                }
            }
        }
    }
}
