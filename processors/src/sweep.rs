//! The upload sweep (timer): the staging area ([`UPLOAD_STAGING_PREFIX`]) holds only the
//! bytes of uploads awaiting confirmation.
//!
//! A presigned PUT stays valid until its TTL whatever happens to the upload, so bytes can
//! arrive after a cancel, an expiry, a rejection, a confirmation or a deletion — after
//! object cleanup ran. The sweep lists the area and deletes every object whose upload is
//! not `Requested` (the confirmed ones too: their bytes were copied to the score's own key),
//! whose upload was never requested, or whose key the server never signs. The state comes
//! from the event store, not from a read model, so a lagging projection can neither keep
//! nor drop bytes wrongly. Deleting is idempotent and one process sweeps at a time (an
//! advisory lock on PostgreSQL); the sweep of another process meanwhile is harmless.

use std::sync::Arc;

use aggregates::{Score, ScoreError, ScoreStatus, UserId};
use eventstore::{AggregateStore, CommandError, Database};
use objectstore::{ObjectStore, ObjectStoreError, UPLOAD_STAGING_PREFIX, parse_upload_staging_key};

use crate::runner::AdvisoryLock;

/// Why a sweep could not run.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The staging area could not be listed; nothing was decided.
    #[error("listing the staged uploads failed")]
    List(#[from] ObjectStoreError),
    /// The database refused the sweep's lock.
    #[error("taking the sweep lock failed")]
    Lock(#[from] sqlx::Error),
}

/// What to do with one staged object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Its upload awaits confirmation: its reservation accounts for the bytes.
    Keep,
    /// Nothing accounts for it; the reason is the metric's label: the upload's status, or
    /// `unknown` (no such upload of that user, or a key the server never signs).
    Delete(&'static str),
}

pub struct UploadSweep {
    pub database: Database,
    pub scores: Arc<AggregateStore<Score>>,
    pub objects: ObjectStore,
}

impl UploadSweep {
    /// Sweeps the whole staging area once; answers how many objects it deleted. Also
    /// counts them in `scoremate_upload_sweep_deleted_total{reason}`.
    #[tracing::instrument(name = "upload_sweep", skip_all)]
    pub async fn run_once(&self) -> Result<usize, SweepError> {
        let Some(lock) = AdvisoryLock::try_acquire(&self.database, "upload_sweep").await? else {
            return Ok(0);
        };
        let result = self.sweep().await;
        lock.release().await?;
        result
    }

    async fn sweep(&self) -> Result<usize, SweepError> {
        let mut deleted = 0;
        let mut continuation = None;
        loop {
            let page = self
                .objects
                .list_page(UPLOAD_STAGING_PREFIX, continuation)
                .await?;
            for key in &page.keys {
                let reason = match self.verdict(key).await {
                    Ok(Verdict::Keep) => continue,
                    Ok(Verdict::Delete(reason)) => reason,
                    Err(error) => {
                        tracing::warn!(%key, %error, "loading the upload of a staged object failed; the next sweep decides");
                        continue;
                    }
                };
                match self.objects.delete(key).await {
                    Ok(()) => {
                        deleted += 1;
                        metrics::counter!("scoremate_upload_sweep_deleted_total", "reason" => reason)
                            .increment(1);
                        tracing::info!(%key, reason, "staged object swept");
                    }
                    Err(error) => {
                        tracing::warn!(%key, %error, "deleting a staged object failed; the next sweep retries");
                    }
                }
            }
            match page.next {
                Some(token) => continuation = Some(token),
                None => return Ok(deleted),
            }
        }
    }

    async fn verdict(&self, key: &str) -> Result<Verdict, CommandError<ScoreError>> {
        let Some((user, upload)) = parse_upload_staging_key(key) else {
            return Ok(Verdict::Delete("unknown"));
        };
        let score = self.scores.load(&upload.to_string()).await?.aggregate;
        if !score.is_owned_by(UserId::from_uuid(user)) {
            return Ok(Verdict::Delete("unknown"));
        }
        Ok(match score.status() {
            Some(ScoreStatus::Requested) => Verdict::Keep,
            Some(status) => Verdict::Delete(status.as_str()),
            None => Verdict::Delete("unknown"),
        })
    }
}
