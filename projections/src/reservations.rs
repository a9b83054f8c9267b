//! `open_reservations`: quota reservations neither confirmed nor released, with their
//! expiry — what the reservation-expiry timer scans.

use std::collections::HashMap;

use aggregates::{Quota, QuotaEvent};
use chrono::{DateTime, Utc};
use eventstore::{Database, RecordedEvent};

use crate::batch::{Param, delete_in, insert_rows};
use crate::error::ProjectionError;
use crate::runner::Projection;
use crate::transaction::ReadModelTx;

/// The projection (`open_reservations` table).
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenReservations;

impl Projection for OpenReservations {
    fn name(&self) -> &'static str {
        "open_reservations"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["open_reservations"]
    }

    /// The batch's reservations folded first: deleted (confirmed or released at some
    /// point) and the row standing at the end, if any; a reservation made and settled
    /// within the batch costs no statement of its own.
    async fn apply_batch(
        &self,
        tx: &mut ReadModelTx<'_>,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        let mut touched: Vec<String> = Vec::new();
        let mut fate: HashMap<String, Fate> = HashMap::new();
        for event in events
            .iter()
            .filter(|event| event.aggregate_type == <Quota as cqrs_es::Aggregate>::TYPE)
        {
            let (upload_id, reserved) = match crate::decode::decode(event)? {
                QuotaEvent::QuotaReserved {
                    upload_id,
                    bytes,
                    expires_at,
                } => {
                    let row = vec![
                        upload_id.to_string().into(),
                        event.aggregate_id.as_str().into(),
                        i64::try_from(bytes.0).unwrap_or(i64::MAX).into(),
                        expires_at.timestamp_millis().into(),
                    ];
                    (upload_id, Some(row))
                }
                QuotaEvent::QuotaConfirmed { upload_id, .. }
                | QuotaEvent::ReservationReleased { upload_id, .. } => (upload_id, None),
                QuotaEvent::QuotaLimitSet { .. } | QuotaEvent::QuotaReleased { .. } => continue,
            };
            let key = upload_id.to_string();
            let entry = fate.entry(key.clone()).or_insert_with(|| {
                touched.push(key);
                Fate::default()
            });
            match reserved {
                // `ON CONFLICT DO NOTHING`: the first reservation since the last deletion
                // stands.
                Some(row) => {
                    entry.standing.get_or_insert(row);
                }
                None => {
                    entry.deleted = true;
                    entry.standing = None;
                }
            }
        }
        let mut deleted = Vec::new();
        let mut inserted = Vec::new();
        for key in touched {
            let Some(fate) = fate.remove(&key) else {
                continue;
            };
            if fate.deleted {
                deleted.push(key);
            }
            inserted.extend(fate.standing);
        }
        delete_in(
            tx,
            "DELETE FROM open_reservations WHERE upload_id IN ({keys})",
            &deleted,
        )
        .await?;
        insert_rows(
            tx,
            "INSERT INTO open_reservations (upload_id, user_id, bytes, expires_at_ms) VALUES",
            "ON CONFLICT (upload_id) DO NOTHING",
            inserted,
        )
        .await?;
        Ok(())
    }
}

/// What a batch does to one reservation.
#[derive(Default)]
struct Fate {
    /// Confirmed or released at some point: any stored row goes.
    deleted: bool,
    /// The row inserted after the last deletion, if any.
    standing: Option<Vec<Param>>,
}

/// A reservation past its expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredReservation {
    pub upload_id: String,
    pub user_id: String,
}

/// Up to `limit` open reservations that expired at or before `now`.
pub async fn expired_reservations(
    database: &Database,
    now: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<ExpiredReservation>, ProjectionError> {
    const QUERY: &str = "SELECT upload_id, user_id FROM open_reservations \
                         WHERE expires_at_ms <= $1 ORDER BY expires_at_ms LIMIT $2";
    let rows: Vec<(String, String)> = match database {
        Database::Sqlite(pool) => {
            sqlx::query_as(QUERY)
                .bind(now.timestamp_millis())
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        }
        Database::Postgres(pool) => {
            sqlx::query_as(QUERY)
                .bind(now.timestamp_millis())
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        }
    };
    Ok(rows
        .into_iter()
        .map(|(upload_id, user_id)| ExpiredReservation { upload_id, user_id })
        .collect())
}
