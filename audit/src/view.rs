//! The shapes the audit shares with its clients: a balance, and the instant `as_of`.

use aggregates::Quota;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A user's storage, in bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QuotaView {
    pub limit_bytes: u64,
    pub used_bytes: u64,
    pub reserved_bytes: u64,
    /// Never negative: 0 when a lowered limit is below usage.
    pub available_bytes: u64,
}

impl From<&Quota> for QuotaView {
    fn from(quota: &Quota) -> Self {
        Self {
            limit_bytes: quota.limit().0,
            used_bytes: quota.used().0,
            reserved_bytes: quota.reserved().0,
            available_bytes: quota.available().0,
        }
    }
}

/// An `as_of` that is not an RFC 3339 date-time.
#[derive(Debug, thiserror::Error)]
#[error("{raw:?} is not an RFC 3339 date-time (e.g. 2026-11-26T12:00:00Z)")]
pub struct AsOfError {
    pub raw: String,
}

/// The instant an audit stops at (inclusive), as RFC 3339 (any offset; answered in UTC).
pub fn parse_as_of(raw: &str) -> Result<DateTime<Utc>, AsOfError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|instant| instant.with_timezone(&Utc))
        .map_err(|_| AsOfError {
            raw: raw.to_owned(),
        })
}
