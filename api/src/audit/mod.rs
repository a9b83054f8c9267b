//! Auditing a user's quota: the history replayed from the event store itself (never from
//! a read model), the state as of any instant, and whether the read models agree with it.
//!
//! The API (`GET /api/v1/audit/users/{id}/quota-history`) and the CLI (`scoremate audit
//! quota`, `audit verify-all`) answer from the same [`audit_quota`], so their JSON agrees.

mod replay;
mod snapshot;
mod verify;

use std::time::{Duration, Instant};

use aggregates::UserId;
use chrono::{DateTime, Utc};
use eventstore::Database;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pub use replay::{AuditEntry, Replayed, replay};
pub use verify::{Divergence, Verification, verify};

use crate::routes::me::QuotaView;

/// Why an audit could not be answered (never "the books disagree": that is an answer).
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Store(#[from] eventstore::StoreError),
    #[error("reading the read models: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored event this version cannot read: the audit stops rather than skip it.
    #[error("quota event at position {position} does not decode: {reason}")]
    Undecodable { position: i64, reason: String },
}

/// The answer about one user: what the API returns (one page of `results`) and what the
/// CLI prints (every result).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QuotaAudit {
    pub user_id: Uuid,
    /// The instant the replay stopped at (inclusive), or `null`: every event so far.
    pub as_of: Option<DateTime<Utc>>,
    /// The balance after the last event at or before `as_of`.
    pub state: QuotaView,
    /// Whether every read model checked agrees with the replay of the whole stream.
    pub verified: bool,
    /// The first place (by log position) where a read model disagrees, if any.
    pub divergence: Option<Divergence>,
    /// The read models compared: `quota_ledger` and `quota` always; `open_reservations`
    /// and `scores` once their followers had caught up with the log.
    pub checked: Vec<String>,
    /// Events at or before `as_of`.
    pub count: u64,
    pub next: Option<String>,
    pub previous: Option<String>,
    /// The events at or before `as_of`, oldest first, each with the balance after it.
    pub results: Vec<AuditEntry>,
}

/// How long to wait for followers that lag before comparing without them.
#[derive(Debug, Clone, Copy)]
pub struct Patience(pub Duration);

impl Patience {
    /// The API waits a little: the server's own followers are running.
    pub const SERVER: Self = Self(Duration::from_secs(2));
    /// The CLI does not: no follower may be running at all.
    pub const NONE: Self = Self(Duration::ZERO);
}

/// The full audit of `user_id` as of `as_of`, with every event in `results` (callers page).
pub async fn audit_quota(
    database: &Database,
    user_id: UserId,
    as_of: Option<DateTime<Utc>>,
    patience: Patience,
) -> Result<QuotaAudit, AuditError> {
    let deadline = Instant::now() + patience.0;
    let (replayed, verification) = loop {
        let snapshot = snapshot::take(database, user_id).await?;
        let replayed = replay(&snapshot.events)?;
        let verification = verify(&replayed, &snapshot);
        if verification.complete || Instant::now() >= deadline {
            break (replayed, verification);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let results: Vec<AuditEntry> = replayed
        .into_iter()
        .take_while(|event| as_of.is_none_or(|as_of| event.entry.occurred_at <= as_of))
        .map(|event| event.entry)
        .collect();
    let state = results.last().map(AuditEntry::state).unwrap_or(QuotaView {
        limit_bytes: 0,
        used_bytes: 0,
        reserved_bytes: 0,
        available_bytes: 0,
    });
    Ok(QuotaAudit {
        user_id: user_id.into_uuid(),
        as_of,
        state,
        verified: verification.divergence.is_none(),
        divergence: verification.divergence,
        checked: verification
            .checked
            .iter()
            .map(|name| (*name).to_owned())
            .collect(),
        count: results.len() as u64,
        next: None,
        previous: None,
        results,
    })
}

/// Every user with a quota stream or a quota read-model row (a row without a stream is a
/// divergence too), in id order.
pub async fn audited_users(database: &Database) -> Result<Vec<UserId>, AuditError> {
    snapshot::users(database).await
}
