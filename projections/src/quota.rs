//! `quota_balances` (projection `quota`) and `quota_ledger` (projection `quota_ledger`):
//! each user's balance, and every quota event with its signed deltas and the balance after
//! it. Both fold with the domain's own ledger (`aggregates::quota::ledger`), so they agree
//! with `GET /quota/history` and with the auditors' replay by construction.

use aggregates::quota::ledger::{Balance, apply};
use aggregates::{Quota, QuotaEvent};
use cqrs_es::Aggregate;
use eventstore::RecordedEvent;

use crate::decode::{decode, occurred_at, to_i64};
use crate::error::ProjectionError;
use crate::runner::Projection;
use crate::transaction::ReadModelTx;

fn balance_of(row: Option<(i64, i64, i64)>) -> Balance {
    let unsigned = |value: i64| u64::try_from(value).unwrap_or_default();
    row.map_or_else(Balance::default, |(limit, used, reserved)| Balance {
        limit: unsigned(limit),
        used: unsigned(used),
        reserved: unsigned(reserved),
    })
}

/// Projection `quota`: one balance row per user.
#[derive(Debug, Clone, Copy, Default)]
pub struct QuotaBalances;

impl Projection for QuotaBalances {
    fn name(&self) -> &'static str {
        "quota"
    }

    /// `quota` is the quota saga's checkpoint.
    fn checkpoint_key(&self) -> &'static str {
        "quota_balances"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["quota_balances"]
    }

    async fn apply(
        &self,
        tx: &mut ReadModelTx<'_>,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        if event.aggregate_type != Quota::TYPE {
            return Ok(());
        }
        let decoded: QuotaEvent = decode(event)?;
        let row = crate::fetch_optional!(
            tx,
            (i64, i64, i64),
            "SELECT limit_bytes, used_bytes, reserved_bytes FROM quota_balances WHERE user_id = $1",
            event.aggregate_id.clone()
        )?;
        let mut balance = balance_of(row);
        apply(&mut balance, &decoded);
        crate::execute!(
            tx,
            "INSERT INTO quota_balances (user_id, limit_bytes, used_bytes, reserved_bytes, version, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (user_id) DO UPDATE SET limit_bytes = excluded.limit_bytes, \
             used_bytes = excluded.used_bytes, reserved_bytes = excluded.reserved_bytes, \
             version = excluded.version, updated_at = excluded.updated_at",
            event.aggregate_id.clone(),
            to_i64(balance.limit),
            to_i64(balance.used),
            to_i64(balance.reserved),
            event.sequence,
            occurred_at(event),
        )?;
        Ok(())
    }
}

/// Projection `quota_ledger`: one line per quota event.
#[derive(Debug, Clone, Copy, Default)]
pub struct QuotaLedger;

impl Projection for QuotaLedger {
    fn name(&self) -> &'static str {
        "quota_ledger"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["quota_ledger"]
    }

    async fn apply(
        &self,
        tx: &mut ReadModelTx<'_>,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        if event.aggregate_type != Quota::TYPE {
            return Ok(());
        }
        let decoded: QuotaEvent = decode(event)?;
        let previous = crate::fetch_optional!(
            tx,
            (i64, i64, i64),
            "SELECT limit_bytes_after, used_bytes_after, reserved_bytes_after FROM quota_ledger \
             WHERE user_id = $1 ORDER BY version DESC LIMIT 1",
            event.aggregate_id.clone()
        )?;
        let mut balance = balance_of(previous);
        let line = apply(&mut balance, &decoded);
        crate::execute!(
            tx,
            "INSERT INTO quota_ledger (position, user_id, version, occurred_at, event, upload_id, \
             score_id, delta_used_bytes, delta_reserved_bytes, used_bytes_after, \
             reserved_bytes_after, limit_bytes_after) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            event.position(),
            event.aggregate_id.clone(),
            event.sequence,
            occurred_at(event),
            event.event_type.clone(),
            line.upload_id.map(|id| id.to_string()),
            line.score_id.map(|id| id.to_string()),
            line.delta_used,
            line.delta_reserved,
            to_i64(line.after.used),
            to_i64(line.after.reserved),
            to_i64(line.after.limit),
        )?;
        Ok(())
    }
}
