//! Auditing a user's quota: the history replayed from the event store itself (never from
//! a read model), the state as of any instant, and whether the read models agree with it.
//! No HTTP here.
//!
//! The API (`GET /api/v1/audit/users/{id}/quota-history`) and the CLI (`scoremate audit
//! quota`, and `audit verify-all`, a few users at a time through [`audit_each`]) answer from
//! the same replay and checks, so their JSON agrees.
//!
//! - `replay`: quota events → ledger entries with running balances (the aggregates' own
//!   ledger fold, so the audit can never disagree with the command side);
//! - `snapshot`: the replay and the read models, read in one consistent view;
//! - `verify`: where the read models part from the replay, if anywhere;
//! - `view`: the balance as clients see it ([`QuotaView`], also `GET /quota`'s answer).
//!
//! The feature `openapi` derives the OpenAPI schemas of the answers (the API enables it).

mod replay;
mod snapshot;
mod verify;
mod view;

use std::time::{Duration, Instant};

use aggregates::UserId;
use chrono::{DateTime, Utc};
use eventstore::Database;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use replay::{AuditEntry, Replayed, replay};
pub use verify::{Divergence, Verification, verify};
pub use view::{AsOfError, QuotaView, parse_as_of};

use snapshot::Reads;

/// Why an audit could not be answered (never "the books disagree": that is an answer).
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Store(#[from] eventstore::StoreError),
    #[error("reading the read models: {0}")]
    Database(#[from] sqlx::Error),
    /// The `quota_ledger` rows, read as JSON arrays by column, do not read as rows.
    #[error("reading quota_ledger: {0}")]
    Ledger(#[source] serde_json::Error),
    /// A stored event this version cannot read: the audit stops rather than skip it.
    #[error("quota event at position {position} does not decode: {reason}")]
    Undecodable { position: i64, reason: String },
}

/// The answer about one user: what the API returns (one page of `results`) and what the
/// CLI prints (every result).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// Always true here: every event is counted.
    pub count_is_exact: bool,
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
    audit_with(database, user_id, as_of, patience, Reads::Parallel).await
}

async fn audit_with(
    database: &Database,
    user_id: UserId,
    as_of: Option<DateTime<Utc>>,
    patience: Patience,
    reads: Reads,
) -> Result<QuotaAudit, AuditError> {
    let deadline = Instant::now() + patience.0;
    let (replayed, verification) = loop {
        let (replayed, snapshot) = snapshot::take(database, user_id, reads).await?;
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
        count_is_exact: true,
        next: None,
        previous: None,
        results,
    })
}

/// How many users `audit verify-all` audits at once: enough to keep the database busy
/// while one audit decodes, few enough to leave the pool to others.
pub const CONCURRENT_AUDITS: usize = 4;

/// An audit of one of many users that could not be answered.
#[derive(Debug, thiserror::Error)]
#[error("auditing user {user_id}: {source}")]
pub struct UserAuditError {
    pub user_id: UserId,
    #[source]
    pub source: AuditError,
}

/// Audits each of `users` (the whole stream, no waiting for followers), up to
/// `concurrency` at once, and hands each answer to `each` in the order of `users`. Stops
/// at the first audit that cannot be answered.
pub async fn audit_each(
    database: &Database,
    users: &[UserId],
    concurrency: usize,
    mut each: impl FnMut(UserId, QuotaAudit),
) -> Result<(), UserAuditError> {
    let mut running = tokio::task::JoinSet::new();
    // Answers that came in before an earlier user's, by index.
    let mut waiting = std::collections::BTreeMap::new();
    let (mut started, mut handed) = (0, 0);
    while handed < users.len() {
        while started < users.len() && running.len() < concurrency.max(1) {
            let (database, user_id, index) = (database.clone(), users[started], started);
            running.spawn(async move {
                // One connection each: the audits themselves run side by side.
                let audit =
                    audit_with(&database, user_id, None, Patience::NONE, Reads::Sequential).await;
                (index, audit)
            });
            started += 1;
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        // Tasks are never aborted: a join error is a panic, passed on.
        let (index, audit) =
            joined.unwrap_or_else(|error| std::panic::resume_unwind(error.into_panic()));
        waiting.insert(index, audit);
        while let Some(audit) = waiting.remove(&handed) {
            let user_id = users[handed];
            each(
                user_id,
                audit.map_err(|source| UserAuditError { user_id, source })?,
            );
            handed += 1;
        }
    }
    Ok(())
}

/// Every user with a quota stream or a quota read-model row (a row without a stream is a
/// divergence too), in id order.
pub async fn audited_users(database: &Database) -> Result<Vec<UserId>, AuditError> {
    snapshot::users(database).await
}
