use cqrs_es::AggregateError;

/// Failures of the storage layer itself (never a business rule).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `SCOREMATE_DATABASE_URL` names a database this build does not speak.
    #[error("unsupported database URL (expected sqlite:// or postgres://): {0}")]
    UnsupportedUrl(String),
    /// The database could not be reached or answered with an error.
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// Applying the schema migrations failed.
    #[error("migration failed")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A stored event or snapshot could not be read back.
    #[error("stored data could not be decoded: {0}")]
    Corrupt(String),
    /// The event store reported an error below the aggregate.
    #[error("event store error: {0}")]
    EventStore(String),
}

/// Why a command did not take effect.
#[derive(Debug, thiserror::Error)]
pub enum CommandError<E: std::error::Error> {
    /// The aggregate refused the command: a business rule said no.
    #[error(transparent)]
    Rejected(E),
    /// Every attempt lost the race against a concurrent writer of the same aggregate.
    #[error("concurrent change: gave up after {attempts} attempts")]
    Conflict {
        /// How many times the command was decided and its commit refused.
        attempts: u32,
    },
    /// The caller expected another version of the aggregate (`If-Match`).
    #[error("version {expected} was expected, the aggregate is at {actual}")]
    VersionMismatch { expected: usize, actual: usize },
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl<E: std::error::Error> CommandError<E> {
    /// Classifies what cqrs-es reports; a conflict is handled by the retry loop.
    pub(crate) fn from_aggregate(error: AggregateError<E>) -> Self {
        match error {
            AggregateError::UserError(rejection) => Self::Rejected(rejection),
            AggregateError::AggregateConflict => Self::Conflict { attempts: 1 },
            AggregateError::DatabaseConnectionError(source)
            | AggregateError::UnexpectedError(source) => {
                Self::Store(StoreError::EventStore(source.to_string()))
            }
            AggregateError::DeserializationError(source) => {
                Self::Store(StoreError::Corrupt(source.to_string()))
            }
        }
    }
}
