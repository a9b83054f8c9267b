//! Every projection by name, for operators: where each stands (`projections status`) and
//! rebuilding one or all (`projections rebuild NAME|all`).

use chrono::{DateTime, Utc};
use eventstore::{Database, EventLog, LogCursor};

use crate::checkpoint::{peek_checkpoint, read_checkpoint};
use crate::error::ProjectionError;
use crate::rebuild::{Member, RebuildProgress, RebuildReport, rebuild, rebuild_together};
use crate::runner::Projection;
use crate::transaction::ReadModelTx;
use crate::{
    Accounts, Analytics, OpenReservations, QuotaBalances, QuotaLedger, Scores, Sessions, Setlists,
};

/// The projections' names, in the order `rebuild all` takes them.
pub const PROJECTION_NAMES: [&str; 8] = [
    "accounts",
    "sessions",
    "scores",
    "setlists",
    "quota",
    "quota_ledger",
    "analytics",
    "open_reservations",
];

/// Every projection's tables, in `PROJECTION_NAMES` order.
pub fn read_model_tables() -> Vec<&'static str> {
    [
        Accounts.tables(),
        Sessions.tables(),
        Scores.tables(),
        Setlists.tables(),
        QuotaBalances.tables(),
        QuotaLedger.tables(),
        Analytics.tables(),
        OpenReservations.tables(),
    ]
    .concat()
}

/// One projection's place in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ProjectionStatus {
    pub name: &'static str,
    /// The position of the last event applied (0: none yet).
    pub checkpoint: i64,
    /// The position of the last event committed.
    pub head: i64,
    /// Committed events not applied yet.
    pub lag: i64,
    /// When the oldest of them was recorded: how stale the read model is.
    pub behind_since: Option<DateTime<Utc>>,
}

/// Where every projection stands.
pub async fn status(database: &Database) -> Result<Vec<ProjectionStatus>, ProjectionError> {
    let log = EventLog::new(database.clone());
    let head = log.head().await?;
    let mut statuses = Vec::with_capacity(PROJECTION_NAMES.len());
    for name in PROJECTION_NAMES {
        let checkpoint = checkpoint_of(database, checkpoint_key(name)?).await?;
        statuses.push(ProjectionStatus {
            name,
            checkpoint: checkpoint.position,
            head: head.position,
            lag: log.count_after(checkpoint).await?,
            behind_since: oldest_after(&log, checkpoint).await?,
        });
    }
    Ok(statuses)
}

/// When the oldest committed event that one of the projections `names` has not applied
/// yet was recorded (`None`: all of them are at the head). Locks nothing and writes
/// nothing, so a health check may ask every second.
pub async fn oldest_unapplied(
    database: &Database,
    names: &[&str],
) -> Result<Option<DateTime<Utc>>, ProjectionError> {
    let mut slowest: Option<LogCursor> = None;
    for name in names {
        let checkpoint = peek_checkpoint(database, checkpoint_key(name)?).await?;
        slowest = Some(slowest.map_or(checkpoint, |slowest| slowest.min(checkpoint)));
    }
    match slowest {
        Some(checkpoint) => oldest_after(&EventLog::new(database.clone()), checkpoint).await,
        None => Ok(None),
    }
}

/// When the oldest committed event after `checkpoint` was recorded, if there is one.
pub async fn oldest_after(
    log: &EventLog,
    checkpoint: LogCursor,
) -> Result<Option<DateTime<Utc>>, ProjectionError> {
    Ok(log
        .read_after(checkpoint, 1)
        .await?
        .first()
        .map(|event| event.recorded_at))
}

/// Where the follower whose checkpoint key is `name` stands (projection or processor).
pub async fn checkpoint_of(database: &Database, name: &str) -> Result<LogCursor, ProjectionError> {
    let mut tx = ReadModelTx::begin_read(database).await?;
    let checkpoint = read_checkpoint(&mut tx, name).await?;
    tx.commit().await?;
    Ok(checkpoint)
}

/// The canonical `&'static` name, if `name` is one.
pub fn projection_name(name: &str) -> Result<&'static str, ProjectionError> {
    PROJECTION_NAMES
        .into_iter()
        .find(|known| *known == name)
        .ok_or_else(|| ProjectionError::Unknown {
            name: name.to_owned(),
            known: PROJECTION_NAMES.join(", "),
        })
}

/// The checkpoint key of the projection called `name`.
fn checkpoint_key(name: &str) -> Result<&'static str, ProjectionError> {
    Ok(match name {
        "accounts" => Accounts.checkpoint_key(),
        "sessions" => Sessions.checkpoint_key(),
        "scores" => Scores.checkpoint_key(),
        "setlists" => Setlists.checkpoint_key(),
        "quota" => QuotaBalances.checkpoint_key(),
        "quota_ledger" => QuotaLedger.checkpoint_key(),
        "analytics" => Analytics.checkpoint_key(),
        "open_reservations" => OpenReservations.checkpoint_key(),
        other => {
            return Err(ProjectionError::Unknown {
                name: other.to_owned(),
                known: PROJECTION_NAMES.join(", "),
            });
        }
    })
}

/// Rebuilds the projection called `name` (see [`rebuild`]).
pub async fn rebuild_named(
    name: &str,
    database: &Database,
    progress: impl FnMut(RebuildProgress) + Send,
) -> Result<RebuildReport, ProjectionError> {
    match name {
        "accounts" => rebuild(&Accounts, database, progress).await,
        "sessions" => rebuild(&Sessions, database, progress).await,
        "scores" => rebuild(&Scores, database, progress).await,
        "setlists" => rebuild(&Setlists, database, progress).await,
        "quota" => rebuild(&QuotaBalances, database, progress).await,
        "quota_ledger" => rebuild(&QuotaLedger, database, progress).await,
        "analytics" => rebuild(&Analytics, database, progress).await,
        "open_reservations" => rebuild(&OpenReservations, database, progress).await,
        other => Err(ProjectionError::Unknown {
            name: other.to_owned(),
            known: PROJECTION_NAMES.join(", "),
        }),
    }
}

/// Rebuilds every projection in one pass over the log (see [`rebuild`]): each batch is
/// read once and applied by all eight into their shadow tables, in one transaction, and
/// one transaction swaps them all in. `progress` hears of each after every batch.
pub async fn rebuild_all(
    database: &Database,
    progress: impl Fn(&'static str, RebuildProgress) + Send,
) -> Result<Vec<(&'static str, RebuildReport)>, ProjectionError> {
    let members: [&dyn Member; 8] = [
        &Accounts,
        &Sessions,
        &Scores,
        &Setlists,
        &QuotaBalances,
        &QuotaLedger,
        &Analytics,
        &OpenReservations,
    ];
    let mut each = move |step| {
        for member in members {
            progress(member.member_name(), step);
        }
    };
    let report = rebuild_together(&members, database, &mut each).await?;
    Ok(members
        .iter()
        .map(|member| (member.member_name(), report))
        .collect())
}
