//! `quota_balances` (projection `quota`) and `quota_ledger` (projection `quota_ledger`):
//! each user's balance, and every quota event with its signed deltas and the balance after
//! it. Both fold with the domain's own ledger (`aggregates::quota::ledger`), so they agree
//! with `GET /quota/history` and with the auditors' replay by construction.

use std::collections::HashMap;

use aggregates::quota::ledger::{Balance, apply};
use aggregates::{Quota, QuotaEvent};
use cqrs_es::Aggregate;
use eventstore::RecordedEvent;

use crate::batch::{by_aggregate, fetch_in, ids_of, insert_rows};
use crate::changes::Owners;
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

const BALANCE_HEAD: &str = "INSERT INTO quota_balances (user_id, limit_bytes, used_bytes, \
     reserved_bytes, version, updated_at, log_transaction_id, log_position) VALUES";

const BALANCE_TAIL: &str = "ON CONFLICT (user_id) DO UPDATE SET limit_bytes = excluded.limit_bytes, \
     used_bytes = excluded.used_bytes, reserved_bytes = excluded.reserved_bytes, \
     version = excluded.version, updated_at = excluded.updated_at, \
     log_transaction_id = excluded.log_transaction_id, log_position = excluded.log_position";

const LEDGER_HEAD: &str = "INSERT INTO quota_ledger (position, user_id, version, occurred_at, \
     event, upload_id, score_id, delta_used_bytes, delta_reserved_bytes, used_bytes_after, \
     reserved_bytes_after, limit_bytes_after) VALUES";

/// Every touched user's balance as `sql` (user id, limit, used, reserved) has it.
async fn balances(
    tx: &mut ReadModelTx<'_>,
    sql: &str,
    users: &[String],
) -> Result<HashMap<String, Balance>, ProjectionError> {
    let rows: Vec<(String, i64, i64, i64)> = fetch_in(tx, sql, &[], users).await?;
    Ok(rows
        .into_iter()
        .map(|(user, limit, used, reserved)| (user, balance_of(Some((limit, used, reserved)))))
        .collect())
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

    async fn apply_batch(
        &self,
        tx: &mut ReadModelTx<'_>,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        self.apply_batch_for_owners(tx, events).await.map(drop)
    }

    async fn apply_batch_for_owners(
        &self,
        tx: &mut ReadModelTx<'_>,
        events: &[RecordedEvent],
    ) -> Result<Owners, ProjectionError> {
        let groups = by_aggregate(events, Quota::TYPE);
        let mut owners = Owners::new();
        if groups.is_empty() {
            return Ok(owners);
        }
        let mut stored = balances(
            tx,
            "SELECT user_id, limit_bytes, used_bytes, reserved_bytes FROM quota_balances \
             WHERE user_id IN ({keys})",
            &ids_of(&groups),
        )
        .await?;
        let mut rows = Vec::with_capacity(groups.len());
        for (user, events) in groups {
            let mut balance = stored.remove(user).unwrap_or_default();
            for event in &events {
                apply(&mut balance, &decode::<QuotaEvent>(event)?);
            }
            let Some(last) = events.last() else { continue };
            rows.push(vec![
                user.into(),
                to_i64(balance.limit).into(),
                to_i64(balance.used).into(),
                to_i64(balance.reserved).into(),
                last.sequence.into(),
                occurred_at(last).into(),
                last.cursor.transaction_id.into(),
                last.cursor.position.into(),
            ]);
            owners.insert(user.to_owned());
        }
        insert_rows(tx, BALANCE_HEAD, BALANCE_TAIL, rows).await?;
        Ok(owners)
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

    async fn apply_batch(
        &self,
        tx: &mut ReadModelTx<'_>,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        let groups = by_aggregate(events, Quota::TYPE);
        if groups.is_empty() {
            return Ok(());
        }
        // Each user's balance after their latest line.
        let mut stored = balances(
            tx,
            // One probe of the `(user_id, version)` key per user for its latest line (a
            // condition on every line of the user's, as a correlated `MAX` in `WHERE`
            // was, costs a probe per line), then the line by its position.
            "SELECT line.user_id, line.limit_bytes_after, line.used_bytes_after, \
             line.reserved_bytes_after FROM (VALUES {key_rows}) AS wanted \
             JOIN quota_ledger AS line ON line.position = (SELECT latest.position \
             FROM quota_ledger AS latest WHERE latest.user_id = wanted.column1 \
             ORDER BY latest.version DESC LIMIT 1)",
            &ids_of(&groups),
        )
        .await?;
        let mut lines = Vec::new();
        for (user, events) in groups {
            let mut balance = stored.remove(user).unwrap_or_default();
            for event in events {
                let line = apply(&mut balance, &decode::<QuotaEvent>(event)?);
                lines.push(vec![
                    event.position().into(),
                    user.into(),
                    event.sequence.into(),
                    occurred_at(event).into(),
                    event.event_type.as_str().into(),
                    line.upload_id.map(|id| id.to_string()).into(),
                    line.score_id.map(|id| id.to_string()).into(),
                    line.delta_used.into(),
                    line.delta_reserved.into(),
                    to_i64(line.after.used).into(),
                    to_i64(line.after.reserved).into(),
                    to_i64(line.after.limit).into(),
                ]);
            }
        }
        insert_rows(tx, LEDGER_HEAD, "", lines).await?;
        Ok(())
    }
}
