//! Everything an audit compares, read in one snapshot of the database: the user's Quota
//! stream, the read models fed by it, and the followers' checkpoints. A commit landing
//! half-way through can then never look like a divergence.

use aggregates::{Quota, UserId};
use cqrs_es::Aggregate;
use eventstore::{Database, LogCursor, RecordedEvent};
use projections::{OpenReservations, Projection, QuotaBalances, QuotaLedger, ReadModelTx, Scores};

use super::AuditError;

/// One row of `quota_ledger`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LedgerRow {
    pub position: i64,
    pub version: i64,
    pub event: String,
    pub upload_id: Option<String>,
    pub score_id: Option<String>,
    pub delta_used_bytes: i64,
    pub delta_reserved_bytes: i64,
    pub used_bytes_after: i64,
    pub reserved_bytes_after: i64,
    pub limit_bytes_after: i64,
}

/// The user's row of `quota_balances`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct BalanceRow {
    pub limit_bytes: i64,
    pub used_bytes: i64,
    pub reserved_bytes: i64,
    pub version: i64,
}

/// Where each follower the audit relies on stands.
#[derive(Debug, Clone, Copy, Default)]
pub struct Checkpoints {
    pub quota_ledger: LogCursor,
    pub quota_balances: LogCursor,
    pub open_reservations: LogCursor,
    pub scores: LogCursor,
    /// The quota saga, which turns score events into quota events.
    pub quota_saga: LogCursor,
}

#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub events: Vec<RecordedEvent>,
    /// The last event committed in this snapshot.
    pub head: LogCursor,
    pub checkpoints: Checkpoints,
    pub ledger: Vec<LedgerRow>,
    pub balance: Option<BalanceRow>,
    /// Sum of the user's rows in `open_reservations`.
    pub open_reserved_bytes: i64,
    /// Sum of the sizes of the user's live (confirmed, not deleted) scores.
    pub live_score_bytes: i64,
}

/// The quota saga's checkpoint key (processors::QuotaSaga's name).
const QUOTA_SAGA: &str = "quota";

const LEDGER: &str = "SELECT position, version, event, upload_id, score_id, delta_used_bytes, \
    delta_reserved_bytes, used_bytes_after, reserved_bytes_after, limit_bytes_after \
    FROM quota_ledger WHERE user_id = $1 ORDER BY version, position";
const BALANCE: &str = "SELECT limit_bytes, used_bytes, reserved_bytes, version \
    FROM quota_balances WHERE user_id = $1";
const OPEN_RESERVED: &str =
    "SELECT CAST(COALESCE(SUM(bytes), 0) AS BIGINT) FROM open_reservations WHERE user_id = $1";
const LIVE_SCORES: &str = "SELECT CAST(COALESCE(SUM(size_bytes), 0) AS BIGINT) FROM scores \
    WHERE owner_id = $1 AND lifecycle = 'confirmed'";

pub async fn take(database: &Database, user_id: UserId) -> Result<Snapshot, AuditError> {
    let user = user_id.to_string();
    let mut tx = ReadModelTx::begin_snapshot(database).await?;
    // The stream first: on SQLite the first read fixes the snapshot.
    let (events, head) = match &mut tx {
        ReadModelTx::Sqlite(transaction, _) => {
            let events = eventstore::stream_sqlite(transaction, Quota::TYPE, &user).await?;
            (events, eventstore::head_sqlite(transaction).await?)
        }
        ReadModelTx::Postgres(transaction) => {
            let events = eventstore::stream_postgres(transaction, Quota::TYPE, &user).await?;
            (events, eventstore::head_postgres(transaction).await?)
        }
    };
    let checkpoints = Checkpoints {
        quota_ledger: checkpoint(&mut tx, QuotaLedger.checkpoint_key()).await?,
        quota_balances: checkpoint(&mut tx, QuotaBalances.checkpoint_key()).await?,
        open_reservations: checkpoint(&mut tx, OpenReservations.checkpoint_key()).await?,
        scores: checkpoint(&mut tx, Scores.checkpoint_key()).await?,
        quota_saga: checkpoint(&mut tx, QUOTA_SAGA).await?,
    };
    let ledger = projections::fetch_all!(&mut tx, LedgerRow, LEDGER, user.clone())?;
    let balance = projections::fetch_optional!(&mut tx, BalanceRow, BALANCE, user.clone())?;
    let (open_reserved_bytes,) =
        projections::fetch_optional!(&mut tx, (i64,), OPEN_RESERVED, user.clone())?
            .unwrap_or_default();
    let (live_score_bytes,) =
        projections::fetch_optional!(&mut tx, (i64,), LIVE_SCORES, user)?.unwrap_or_default();
    tx.rollback().await?;
    Ok(Snapshot {
        events,
        head,
        checkpoints,
        ledger,
        balance,
        open_reserved_bytes,
        live_score_bytes,
    })
}

/// A follower's checkpoint, read without creating or locking it (START if it never ran).
async fn checkpoint(tx: &mut ReadModelTx<'_>, name: &str) -> Result<LogCursor, AuditError> {
    let row = projections::fetch_optional!(
        tx,
        (i64, i64),
        "SELECT transaction_id, position FROM checkpoints WHERE name = $1",
        name.to_owned()
    )?;
    Ok(
        row.map_or(LogCursor::START, |(transaction_id, position)| LogCursor {
            transaction_id,
            position,
        }),
    )
}

pub async fn users(database: &Database) -> Result<Vec<UserId>, AuditError> {
    const USERS: &str = "SELECT aggregate_id FROM events WHERE aggregate_type = 'Quota' \
        UNION SELECT user_id FROM quota_balances ORDER BY 1";
    let mut tx = ReadModelTx::begin_read(database).await?;
    let ids = projections::fetch_all!(&mut tx, (String,), USERS)?;
    tx.rollback().await?;
    Ok(ids
        .into_iter()
        .filter_map(|(id,)| id.parse::<UserId>().ok())
        .collect())
}
