//! The followers (projections, processors), the timers and the PDF claim loop of one
//! process, and how they are woken.

use std::sync::Arc;

use aggregates::ProcessingStage;
use eventstore::{Database, EventLog, LogCursor};
use processors::{
    FileHashes, JobFeed, ObjectCleanup, PdfJobs, ProcessorRunner, QuotaSaga, ReservationExpiry,
    SetlistCleanup, UploadSweep,
};
use projections::{
    Accounts, Analytics, Follower, OpenReservations, ProjectionRunner, QuotaBalances, QuotaLedger,
    Sessions, Step,
};
use tokio::sync::Notify;

use crate::settings::Settings;
use crate::state::Services;

/// The projections and processors of this process, stepped in order, the timers
/// (reservation expiry, upload sweep), and the claim loop of the PDF jobs.
pub struct Background {
    followers: Vec<Box<dyn Follower>>,
    expiry: ReservationExpiry,
    sweep: UploadSweep,
    /// The SHA-256 backfill of scores confirmed by older releases, stepped on the tick.
    hashes: ProcessorRunner<FileHashes>,
    /// How often `run_forever` sweeps: a sweep lists the bucket, unlike the other steps.
    sweep_every: std::time::Duration,
    jobs: Arc<PdfJobs>,
    database: Database,
    appended: Arc<Notify>,
    jobs_ready: Arc<Notify>,
    /// The change feed's long-polls, told what other processes' batches changed.
    changes: Arc<projections::OwnerChanges>,
}

impl Background {
    pub fn new(database: &Database, services: &Services, settings: &Settings) -> Self {
        let followers: Vec<Box<dyn Follower>> = vec![
            Box::new(ProjectionRunner::new(OpenReservations, database.clone())),
            // The very runners the requests wait on, so their progress is shared.
            Box::new(Arc::clone(&services.scores_view)),
            Box::new(Arc::clone(&services.setlists_view)),
            Box::new(
                ProjectionRunner::new(QuotaBalances, database.clone())
                    .announcing_to(Arc::clone(&services.changes)),
            ),
            Box::new(ProjectionRunner::new(QuotaLedger, database.clone())),
            Box::new(ProjectionRunner::new(Accounts, database.clone())),
            Box::new(ProjectionRunner::new(Sessions, database.clone())),
            Box::new(ProjectionRunner::new(Analytics, database.clone())),
            Box::new(ProcessorRunner::new(
                QuotaSaga {
                    scores: Arc::clone(&services.scores),
                    quotas: Arc::clone(&services.quotas),
                },
                database.clone(),
            )),
            Box::new(ProcessorRunner::new(
                SetlistCleanup {
                    database: database.clone(),
                    scores: Arc::clone(&services.scores),
                    setlists: Arc::clone(&services.setlists),
                },
                database.clone(),
            )),
            // They only enqueue; the jobs run in the claim loop, in any process.
            Box::new(JobFeed::new(
                ProcessingStage::PdfInfo,
                database.clone(),
                Arc::clone(&services.jobs_ready),
            )),
            Box::new(JobFeed::new(
                ProcessingStage::Thumbnail,
                database.clone(),
                Arc::clone(&services.jobs_ready),
            )),
            Box::new(ProcessorRunner::new(
                ObjectCleanup {
                    scores: Arc::clone(&services.scores),
                    objects: services.objects.clone(),
                },
                database.clone(),
            )),
        ];
        // Only confirmations of older releases lack a hash: a backfill, not a reaction,
        // so it steps on the interval's tick instead of on every append (where its
        // checkpoint commit per batch took a write turn from the commands on SQLite).
        let hashes = ProcessorRunner::new(
            FileHashes {
                scores: Arc::clone(&services.scores),
                objects: services.objects.clone(),
                max_bytes: settings.max_upload_bytes,
            },
            database.clone(),
        );
        let expiry = ReservationExpiry {
            database: database.clone(),
            scores: Arc::clone(&services.scores),
            quotas: Arc::clone(&services.quotas),
        };
        let sweep = UploadSweep {
            database: database.clone(),
            scores: Arc::clone(&services.scores),
            objects: services.objects.clone(),
        };
        Self {
            followers,
            expiry,
            sweep,
            hashes,
            sweep_every: settings.upload_sweep_interval(),
            jobs: Arc::clone(&services.pdf_jobs),
            database: database.clone(),
            appended: Arc::clone(&services.appended),
            jobs_ready: Arc::clone(&services.jobs_ready),
            changes: Arc::clone(&services.changes),
        }
    }

    /// Steps every follower until none has work, runs the expiry timer and the upload
    /// sweep once, then runs the due PDF jobs; again until nothing moves. Answers how many
    /// events, expiries, swept objects and jobs were handled. What tests drain; the server
    /// runs the jobs in their own loop and sweeps only every `sweep_every`.
    pub async fn run_until_idle(&self, now: chrono::DateTime<chrono::Utc>) -> usize {
        let mut total = 0;
        loop {
            let mut moved = self.run_followers_until_idle(now, true).await;
            match self.jobs.run_until_idle().await {
                Ok(jobs) => moved += jobs,
                Err(error) => tracing::warn!(%error, "running PDF jobs failed; retrying later"),
            }
            total += moved;
            if moved == 0 {
                return total;
            }
        }
    }

    /// `run_until_idle` without the PDF jobs, and with the sweep only when `sweep` is set.
    async fn run_followers_until_idle(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        sweep: bool,
    ) -> usize {
        let mut total = 0;
        loop {
            let mut moved = 0;
            // Read once per round: a follower known to have reached it has nothing to do
            // and is not asked (on SQLite, asking would take the write lock).
            let head = EventLog::new(self.database.clone()).head().await.ok();
            for follower in &self.followers {
                moved += step_until_idle(follower.as_ref(), head).await;
            }
            moved += step_until_idle(&self.hashes, head).await;
            moved += self.run_timers(now, sweep).await;
            total += moved;
            if moved == 0 {
                return total;
            }
        }
    }

    /// The reservation expiry once, then (if `sweep`) the upload sweep: uploads the expiry
    /// ended are swept at once. Answers how many it handled.
    async fn run_timers(&self, now: chrono::DateTime<chrono::Utc>, sweep: bool) -> usize {
        let mut moved = 0;
        match self.expiry.run_once(now).await {
            Ok(expired) => moved += expired,
            Err(error) => {
                tracing::warn!(error = %error, "reservation expiry failed; retrying later")
            }
        }
        if sweep {
            match self.sweep.run_once().await {
                Ok(swept) => moved += swept,
                Err(error) => {
                    tracing::warn!(error = %error, "upload sweep failed; retrying later")
                }
            }
        }
        moved
    }

    /// Steps one follower until it is idle whenever `wake` is told, and every `interval`.
    async fn follow(&self, index: usize, wake: Arc<Notify>, interval: std::time::Duration) {
        let Some(follower) = self.followers.get(index) else {
            return;
        };
        let log = EventLog::new(self.database.clone());
        loop {
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(interval) => {}
            }
            step_until_idle(follower.as_ref(), log.head().await.ok()).await;
        }
    }

    /// Runs whenever events are appended (by this process, or — on PostgreSQL — by any
    /// process, through `LISTEN scoremate_events`), and at least every `interval` for the
    /// expiry timer and as a fallback for lost wake-ups. Each follower steps in a loop of
    /// its own, so a read model never waits behind a processor's commands (under load the
    /// quota saga alone takes seconds to work through a burst). Beside them, the claim
    /// loop of the PDF jobs, woken when jobs are enqueued (`LISTEN scoremate_jobs` on
    /// PostgreSQL) and every `interval`.
    pub async fn run_forever(self: Arc<Self>, interval: std::time::Duration) {
        // Aborted with this task (the server aborts it on shutdown).
        let _listener = match &self.database {
            Database::Postgres(pool) => Some(AbortOnDrop(tokio::spawn(forward_notifications(
                pool.clone(),
                Arc::clone(&self),
            )))),
            Database::Sqlite(_) => None,
        };
        let _jobs = AbortOnDrop(tokio::spawn(
            Arc::clone(&self.jobs).run_forever(Arc::clone(&self.jobs_ready), interval),
        ));
        let wakes: Vec<Arc<Notify>> = self
            .followers
            .iter()
            .map(|_| Arc::new(Notify::new()))
            .collect();
        let _followers: Vec<AbortOnDrop> = wakes
            .iter()
            .enumerate()
            .map(|(index, wake)| {
                let background = Arc::clone(&self);
                let wake = Arc::clone(wake);
                AbortOnDrop(tokio::spawn(async move {
                    background.follow(index, wake, interval).await;
                }))
            })
            .collect();
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_sweep: Option<tokio::time::Instant> = None;
        loop {
            let ticked = tokio::select! {
                _ = ticker.tick() => true,
                () = self.appended.notified() => false,
            };
            if ticked {
                step_until_idle(&self.hashes, None).await;
            }
            for wake in &wakes {
                wake.notify_one();
            }
            let sweep = last_sweep.is_none_or(|at| at.elapsed() >= self.sweep_every);
            if sweep {
                last_sweep = Some(tokio::time::Instant::now());
            }
            self.run_timers(chrono::Utc::now(), sweep).await;
        }
    }
}

/// Steps `follower` until it is idle, unless it is known to have reached `head` already;
/// answers how many events it handled.
async fn step_until_idle(follower: &dyn Follower, head: Option<LogCursor>) -> usize {
    if head.is_some_and(|head| follower.reached() >= head) {
        return 0;
    }
    let mut moved = 0;
    loop {
        match follower.step().await {
            Ok(Step::Handled(count)) => moved += count,
            Ok(Step::Idle) => return moved,
            Err(error) => {
                tracing::warn!(follower = follower.name(), error = %error, "step failed; retrying later");
                return moved;
            }
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Turns PostgreSQL notifications of other processes' appends, enqueued jobs, moved
/// checkpoints and changed owners into local wake-ups and progress.
async fn forward_notifications(pool: sqlx::PgPool, background: Arc<Background>) {
    loop {
        match sqlx::postgres::PgListener::connect_with(&pool).await {
            Ok(mut listener) => {
                if let Err(error) = listener
                    .listen_all([
                        "scoremate_events",
                        "scoremate_jobs",
                        "scoremate_progress",
                        projections::CHANGES_CHANNEL,
                    ])
                    .await
                {
                    tracing::warn!(%error, "LISTEN failed; polling only until it works");
                } else {
                    // `recv` reconnects by itself; an error means it gave up for now.
                    while let Ok(notification) = listener.recv().await {
                        match notification.channel() {
                            "scoremate_jobs" => background.jobs_ready.notify_one(),
                            projections::CHANGES_CHANNEL => background
                                .changes
                                .announce(projections::parse_owners(notification.payload())),
                            "scoremate_progress" => {
                                if let Some((key, cursor)) =
                                    projections::parse_progress(notification.payload())
                                {
                                    for follower in &background.followers {
                                        follower.heard(key, cursor);
                                    }
                                }
                            }
                            _ => background.appended.notify_one(),
                        }
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "cannot listen for new events; polling"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    }
}
