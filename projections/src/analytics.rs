//! Projection `analytics`: activity per UTC day (`analytics_daily`, with the users behind
//! it in `analytics_daily_users`) and live scores per composer (`analytics_composers`,
//! with each live score's composer in `analytics_score_composers`).

use aggregates::{Score, ScoreEvent};
use chrono::NaiveDate;
use cqrs_es::Aggregate;
use eventstore::{Actor, RecordedEvent};

use crate::decode::{decode, occurred_at, to_i64};
use crate::error::ProjectionError;
use crate::runner::Projection;
use crate::transaction::ReadModelTx;

/// The projection.
#[derive(Debug, Clone, Copy, Default)]
pub struct Analytics;

/// One day's increments.
#[derive(Default)]
struct DayDelta {
    uploads: i64,
    upload_bytes: i64,
    deletions: i64,
    deleted_bytes: i64,
    active_users: i64,
}

async fn add_to_day(
    tx: &mut ReadModelTx<'_>,
    day: NaiveDate,
    delta: DayDelta,
) -> Result<(), ProjectionError> {
    crate::execute!(
        tx,
        "INSERT INTO analytics_daily (day, uploads, upload_bytes, deletions, deleted_bytes, active_users) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (day) DO UPDATE SET \
         uploads = analytics_daily.uploads + excluded.uploads, \
         upload_bytes = analytics_daily.upload_bytes + excluded.upload_bytes, \
         deletions = analytics_daily.deletions + excluded.deletions, \
         deleted_bytes = analytics_daily.deleted_bytes + excluded.deleted_bytes, \
         active_users = analytics_daily.active_users + excluded.active_users",
        day,
        delta.uploads,
        delta.upload_bytes,
        delta.deletions,
        delta.deleted_bytes,
        delta.active_users,
    )?;
    Ok(())
}

/// Counts the acting user once per day.
async fn note_active_user(
    tx: &mut ReadModelTx<'_>,
    day: NaiveDate,
    user_id: String,
) -> Result<(), ProjectionError> {
    let seen = crate::fetch_optional!(
        tx,
        (i64,),
        "SELECT CAST(1 AS BIGINT) FROM analytics_daily_users WHERE day = $1 AND user_id = $2",
        day,
        user_id.clone()
    )?;
    if seen.is_some() {
        return Ok(());
    }
    crate::execute!(
        tx,
        "INSERT INTO analytics_daily_users (day, user_id) VALUES ($1, $2)",
        day,
        user_id
    )?;
    add_to_day(
        tx,
        day,
        DayDelta {
            active_users: 1,
            ..DayDelta::default()
        },
    )
    .await
}

/// Files the live score under `composer` (or under none), moving it from where it was.
async fn set_composer(
    tx: &mut ReadModelTx<'_>,
    score_id: String,
    composer: Option<&str>,
) -> Result<(), ProjectionError> {
    let previous = crate::fetch_optional!(
        tx,
        (String,),
        "SELECT composer_folded FROM analytics_score_composers WHERE score_id = $1",
        score_id.clone()
    )?;
    if let Some((folded,)) = previous {
        crate::execute!(
            tx,
            "DELETE FROM analytics_score_composers WHERE score_id = $1",
            score_id.clone()
        )?;
        crate::execute!(
            tx,
            "UPDATE analytics_composers SET live_scores = live_scores - 1 WHERE composer_folded = $1",
            folded.clone()
        )?;
        crate::execute!(
            tx,
            "DELETE FROM analytics_composers WHERE composer_folded = $1 AND live_scores <= 0",
            folded
        )?;
    }
    let Some(composer) = composer.map(str::trim).filter(|name| !name.is_empty()) else {
        return Ok(());
    };
    let folded = crate::fold(composer);
    crate::execute!(
        tx,
        "INSERT INTO analytics_score_composers (score_id, composer_folded) VALUES ($1, $2)",
        score_id,
        folded.clone()
    )?;
    crate::execute!(
        tx,
        "INSERT INTO analytics_composers (composer_folded, composer, live_scores) VALUES ($1, $2, 1) \
         ON CONFLICT (composer_folded) DO UPDATE SET live_scores = analytics_composers.live_scores + 1",
        folded,
        composer.to_owned()
    )?;
    Ok(())
}

impl Projection for Analytics {
    fn name(&self) -> &'static str {
        "analytics"
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "analytics_daily",
            "analytics_daily_users",
            "analytics_composers",
            "analytics_score_composers",
        ]
    }

    async fn apply(
        &self,
        tx: &mut ReadModelTx<'_>,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        let day = occurred_at(event).date_naive();
        if let Some(Actor::User(user_id)) = event.metadata().map(|metadata| metadata.actor) {
            note_active_user(tx, day, user_id.to_string()).await?;
        }
        if event.aggregate_type != Score::TYPE {
            return Ok(());
        }
        let score_id = event.aggregate_id.clone();
        match decode::<ScoreEvent>(event)? {
            ScoreEvent::UploadConfirmed {
                size_bytes,
                metadata,
                ..
            } => {
                let delta = DayDelta {
                    uploads: 1,
                    upload_bytes: to_i64(size_bytes.0),
                    ..DayDelta::default()
                };
                add_to_day(tx, day, delta).await?;
                set_composer(tx, score_id, metadata.composer.as_deref()).await?;
            }
            ScoreEvent::ScoreMetadataUpdated { patch } => {
                if let Some(composer) = patch.composer {
                    set_composer(tx, score_id, composer.as_deref()).await?;
                }
            }
            ScoreEvent::ScoreDeleted { size_bytes } => {
                let delta = DayDelta {
                    deletions: 1,
                    deleted_bytes: to_i64(size_bytes.0),
                    ..DayDelta::default()
                };
                add_to_day(tx, day, delta).await?;
                set_composer(tx, score_id, None).await?;
            }
            _ => {}
        }
        Ok(())
    }
}
