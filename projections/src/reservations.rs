//! `open_reservations`: quota reservations neither confirmed nor released, with their
//! expiry — what the reservation-expiry timer scans.

use aggregates::{Quota, QuotaEvent};
use chrono::{DateTime, Utc};
use eventstore::{Database, RecordedEvent};

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

    async fn apply(
        &self,
        tx: &mut ReadModelTx<'_>,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        if event.aggregate_type != <Quota as cqrs_es::Aggregate>::TYPE {
            return Ok(());
        }
        let decoded: QuotaEvent = crate::decode::decode(event)?;
        match decoded {
            QuotaEvent::QuotaReserved {
                upload_id,
                bytes,
                expires_at,
            } => {
                crate::execute!(
                    tx,
                    "INSERT INTO open_reservations (upload_id, user_id, bytes, expires_at_ms) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (upload_id) DO NOTHING",
                    upload_id.to_string(),
                    event.aggregate_id.clone(),
                    i64::try_from(bytes.0).unwrap_or(i64::MAX),
                    expires_at.timestamp_millis(),
                )?;
            }
            QuotaEvent::QuotaConfirmed { upload_id, .. }
            | QuotaEvent::ReservationReleased { upload_id, .. } => {
                crate::execute!(
                    tx,
                    "DELETE FROM open_reservations WHERE upload_id = $1",
                    upload_id.to_string(),
                )?;
            }
            QuotaEvent::QuotaLimitSet { .. } | QuotaEvent::QuotaReleased { .. } => {}
        }
        Ok(())
    }
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
