use cqrs_es::Aggregate;
use cqrs_es::persist::{
    PersistedEventRepository, PersistenceError, ReplayStream, SerializedEvent, SerializedSnapshot,
};
use postgres_es::PostgresEventRepository;
use serde_json::Value;
use sqlite_es::SqliteEventRepository;

use crate::database::Database;
use crate::sqlite_writes::write_durably;

/// The cqrs-es repository of whichever backend was configured.
///
/// cqrs-es is generic over the repository type, so the choice made at start-up from
/// `SCOREMATE_DATABASE_URL` is an enum that delegates.
pub enum AnyEventRepository {
    /// With its pool, for taking turns to write and flushing the commits (`sqlite_writes`).
    Sqlite(SqliteEventRepository, sqlx::SqlitePool),
    Postgres(PostgresEventRepository),
}

impl AnyEventRepository {
    pub fn new(database: &Database) -> Self {
        match database {
            Database::Sqlite(pool) => {
                Self::Sqlite(SqliteEventRepository::new(pool.clone()), pool.clone())
            }
            Database::Postgres(pool) => Self::Postgres(PostgresEventRepository::new(pool.clone())),
        }
    }
}

/// SQLite reports a lost append race as a UNIQUE violation (our `events` table has an
/// integer `position` key, so the aggregate key is a UNIQUE constraint), which sqlite-es
/// does not recognise as an optimistic-lock failure.
fn normalize(error: PersistenceError) -> PersistenceError {
    const SQLITE_CONSTRAINT_UNIQUE: &str = "2067";
    if let PersistenceError::UnknownError(source) = &error {
        let is_unique_violation = source
            .downcast_ref::<sqlx::Error>()
            .and_then(|error| error.as_database_error())
            .and_then(|error| error.code())
            .is_some_and(|code| code == SQLITE_CONSTRAINT_UNIQUE);
        if is_unique_violation {
            return PersistenceError::OptimisticLockError;
        }
    }
    error
}

macro_rules! delegate {
    ($self:ident, $repo:ident => $call:expr) => {
        match $self {
            Self::Sqlite($repo, _) => $call.await.map_err(normalize),
            Self::Postgres($repo) => $call.await,
        }
    };
}

impl PersistedEventRepository for AnyEventRepository {
    async fn get_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        delegate!(self, repo => repo.get_events::<A>(aggregate_id))
    }

    async fn get_last_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        delegate!(self, repo => repo.get_last_events::<A>(aggregate_id, last_sequence))
    }

    async fn get_snapshot<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        delegate!(self, repo => repo.get_snapshot::<A>(aggregate_id))
    }

    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        match self {
            Self::Sqlite(repo, pool) => {
                write_durably(
                    pool,
                    async {
                        repo.persist::<A>(events, snapshot_update)
                            .await
                            .map_err(normalize)
                    },
                    |error| PersistenceError::UnknownError(Box::new(error)),
                )
                .await
            }
            Self::Postgres(repo) => repo.persist::<A>(events, snapshot_update).await,
        }
    }

    // postgres-es streams from a spawned task that panics on a database error; replays
    // and projections read the global log (`EventLog`) instead.
    async fn stream_events<A: Aggregate>(
        &self,
        _aggregate_id: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        Err(streaming_unsupported())
    }

    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        Err(streaming_unsupported())
    }
}

fn streaming_unsupported() -> PersistenceError {
    PersistenceError::UnknownError("replay streams are not supported: read the global log".into())
}
