//! Projection `analytics`: activity per UTC day (`analytics_daily`, with the users behind
//! it in `analytics_daily_users`) and live scores per composer (`analytics_composers`,
//! with each live score's composer in `analytics_score_composers`).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use aggregates::{Score, ScoreEvent};
use chrono::NaiveDate;
use cqrs_es::Aggregate;
use eventstore::{Actor, RecordedEvent};

use crate::batch::{delete_in, fetch_in, insert_rows};
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

/// A batch's effect, folded in memory from the rows it touches, then written back with a
/// few statements: day counters added to, new (day, user) pairs, and the composers of the
/// touched scores with their counts.
#[derive(Default)]
struct Fold {
    days: BTreeMap<NaiveDate, DayDelta>,
    seen_users: HashSet<(NaiveDate, String)>,
    new_users: Vec<(NaiveDate, String)>,
    /// Touched scores → the composer (folded) each is filed under.
    filed: HashMap<String, Option<String>>,
    /// Touched composers (folded) → display name and live scores; `None`: no row.
    composers: HashMap<String, Option<(String, i64)>>,
}

impl Fold {
    fn day(&mut self, day: NaiveDate) -> &mut DayDelta {
        self.days.entry(day).or_default()
    }

    /// Counts the acting user once per day.
    fn note_active_user(&mut self, day: NaiveDate, user_id: String) {
        if self.seen_users.insert((day, user_id.clone())) {
            self.new_users.push((day, user_id));
            self.day(day).active_users += 1;
        }
    }

    /// Files the live score under `composer` (or under none), moving it from where it was;
    /// a composer left with no live score loses its row.
    fn set_composer(&mut self, score_id: &str, composer: Option<&str>) {
        let filed = self.filed.entry(score_id.to_owned()).or_default();
        if let Some(previous) = filed.take() {
            let count = self.composers.entry(previous).or_default();
            if let Some((_, live)) = count {
                *live -= 1;
                if *live <= 0 {
                    *count = None;
                }
            }
        }
        let Some(composer) = composer.map(str::trim).filter(|name| !name.is_empty()) else {
            return;
        };
        let folded = crate::fold(composer);
        *filed = Some(folded.clone());
        let count = self.composers.entry(folded).or_default();
        match count {
            Some((_, live)) => *live += 1,
            None => *count = Some((composer.to_owned(), 1)),
        }
    }

    fn score_event(&mut self, day: NaiveDate, score_id: &str, event: ScoreEvent) {
        match event {
            ScoreEvent::UploadConfirmed {
                size_bytes,
                metadata,
                ..
            } => {
                let delta = self.day(day);
                delta.uploads += 1;
                delta.upload_bytes += to_i64(size_bytes.0);
                self.set_composer(score_id, metadata.composer.as_deref());
            }
            ScoreEvent::ScoreMetadataUpdated { patch, .. } => {
                if let Some(composer) = patch.composer {
                    self.set_composer(score_id, composer.as_deref());
                }
            }
            ScoreEvent::ScoreDeleted { size_bytes } => {
                let delta = self.day(day);
                delta.deletions += 1;
                delta.deleted_bytes += to_i64(size_bytes.0);
                self.set_composer(score_id, None);
            }
            _ => {}
        }
    }

    async fn write(self, tx: &mut ReadModelTx<'_>) -> Result<(), ProjectionError> {
        let scores: Vec<String> = self.filed.keys().cloned().collect();
        delete_in(
            tx,
            "DELETE FROM analytics_score_composers WHERE score_id IN ({keys})",
            &scores,
        )
        .await?;
        let filed = self
            .filed
            .into_iter()
            .filter_map(|(score, composer)| Some(vec![score.into(), composer?.into()]))
            .collect();
        insert_rows(
            tx,
            "INSERT INTO analytics_score_composers (score_id, composer_folded) VALUES",
            "",
            filed,
        )
        .await?;
        let (kept, gone): (Vec<_>, Vec<_>) = self
            .composers
            .into_iter()
            .partition(|(_, count)| count.is_some());
        let gone: Vec<String> = gone.into_iter().map(|(folded, _)| folded).collect();
        delete_in(
            tx,
            "DELETE FROM analytics_composers WHERE composer_folded IN ({keys})",
            &gone,
        )
        .await?;
        let kept = kept
            .into_iter()
            .filter_map(|(folded, count)| {
                let (composer, live) = count?;
                Some(vec![folded.into(), composer.into(), live.into()])
            })
            .collect();
        insert_rows(
            tx,
            "INSERT INTO analytics_composers (composer_folded, composer, live_scores) VALUES",
            "ON CONFLICT (composer_folded) DO UPDATE SET composer = excluded.composer, \
             live_scores = excluded.live_scores",
            kept,
        )
        .await?;
        let users = self
            .new_users
            .into_iter()
            .map(|(day, user)| vec![day.into(), user.into()])
            .collect();
        insert_rows(
            tx,
            "INSERT INTO analytics_daily_users (day, user_id) VALUES",
            "",
            users,
        )
        .await?;
        let days = self
            .days
            .into_iter()
            .map(|(day, delta)| {
                vec![
                    day.into(),
                    delta.uploads.into(),
                    delta.upload_bytes.into(),
                    delta.deletions.into(),
                    delta.deleted_bytes.into(),
                    delta.active_users.into(),
                ]
            })
            .collect();
        insert_rows(
            tx,
            "INSERT INTO analytics_daily (day, uploads, upload_bytes, deletions, deleted_bytes, \
             active_users) VALUES",
            "ON CONFLICT (day) DO UPDATE SET \
             uploads = analytics_daily.uploads + excluded.uploads, \
             upload_bytes = analytics_daily.upload_bytes + excluded.upload_bytes, \
             deletions = analytics_daily.deletions + excluded.deletions, \
             deleted_bytes = analytics_daily.deleted_bytes + excluded.deleted_bytes, \
             active_users = analytics_daily.active_users + excluded.active_users",
            days,
        )
        .await?;
        Ok(())
    }
}

/// What one event means here: its day, its acting user, and for a score its event.
struct Step {
    day: NaiveDate,
    actor: Option<String>,
    score: Option<(String, ScoreEvent)>,
}

impl Step {
    fn of(event: &RecordedEvent) -> Result<Self, ProjectionError> {
        let actor = match event.metadata().map(|metadata| metadata.actor) {
            Some(Actor::User(user_id)) => Some(user_id.to_string()),
            _ => None,
        };
        let score = if event.aggregate_type == Score::TYPE {
            Some((event.aggregate_id.clone(), decode::<ScoreEvent>(event)?))
        } else {
            None
        };
        Ok(Self {
            day: occurred_at(event).date_naive(),
            actor,
            score,
        })
    }
}

/// What `Fold` needs to know before the batch: which of its (day, user) pairs were counted
/// already, where its scores are filed, and the counts of the composers involved.
async fn load(tx: &mut ReadModelTx<'_>, steps: &[Step]) -> Result<Fold, ProjectionError> {
    let mut fold = Fold::default();
    let actors = || {
        steps
            .iter()
            .filter_map(|step| step.actor.as_ref().map(|user| (step.day, user)))
    };
    if let (Some(first), Some(last)) = (
        actors().map(|(day, _)| day).min(),
        actors().map(|(day, _)| day).max(),
    ) {
        let users: Vec<String> = actors()
            .map(|(_, user)| user.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        fold.seen_users = fetch_in::<(NaiveDate, String)>(
            tx,
            "SELECT day, user_id FROM analytics_daily_users \
             WHERE day >= $1 AND day <= $2 AND user_id IN ({keys})",
            &[first.into(), last.into()],
            &users,
        )
        .await?
        .into_iter()
        .collect();
    }
    let mut touched = BTreeSet::new();
    let mut named = BTreeSet::new();
    for (score_id, event) in steps.iter().filter_map(|step| step.score.as_ref()) {
        let composer = match event {
            ScoreEvent::UploadConfirmed { metadata, .. } => metadata.composer.as_deref(),
            ScoreEvent::ScoreMetadataUpdated { patch, .. } => match &patch.composer {
                Some(composer) => composer.as_deref(),
                None => continue,
            },
            ScoreEvent::ScoreDeleted { .. } => None,
            _ => continue,
        };
        touched.insert(score_id.clone());
        if let Some(composer) = composer.map(str::trim).filter(|name| !name.is_empty()) {
            named.insert(crate::fold(composer));
        }
    }
    if touched.is_empty() {
        return Ok(fold);
    }
    let touched: Vec<String> = touched.into_iter().collect();
    let filed: Vec<(String, String)> = fetch_in(
        tx,
        "SELECT score_id, composer_folded FROM analytics_score_composers \
         WHERE score_id IN ({keys})",
        &[],
        &touched,
    )
    .await?;
    named.extend(filed.iter().map(|(_, folded)| folded.clone()));
    fold.filed = filed
        .into_iter()
        .map(|(score, folded)| (score, Some(folded)))
        .collect();
    let named: Vec<String> = named.into_iter().collect();
    let composers: Vec<(String, String, i64)> = fetch_in(
        tx,
        "SELECT composer_folded, composer, live_scores FROM analytics_composers \
         WHERE composer_folded IN ({keys})",
        &[],
        &named,
    )
    .await?;
    fold.composers = composers
        .into_iter()
        .map(|(folded, composer, live)| (folded, Some((composer, live))))
        .collect();
    Ok(fold)
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

    async fn apply_batch(
        &self,
        tx: &mut ReadModelTx<'_>,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        let steps = events
            .iter()
            .map(Step::of)
            .filter(|step| {
                step.as_ref()
                    .map_or(true, |step| step.actor.is_some() || step.score.is_some())
            })
            .collect::<Result<Vec<_>, _>>()?;
        if steps.is_empty() {
            return Ok(());
        }
        let mut fold = load(tx, &steps).await?;
        for step in steps {
            if let Some(user) = step.actor {
                fold.note_active_user(step.day, user);
            }
            if let Some((score_id, event)) = step.score {
                fold.score_event(step.day, &score_id, event);
            }
        }
        fold.write(tx).await
    }
}
