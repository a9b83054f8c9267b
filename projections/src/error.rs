use eventstore::StoreError;

/// Why a projection step failed; the transaction is rolled back and the step is retried.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An event whose payload does not decode as its aggregate's event type: a bug or a
    /// missing upcaster, never skipped silently.
    #[error("event at position {position} does not decode: {reason}")]
    Undecodable { position: i64, reason: String },
    /// An operator named a projection that does not exist.
    #[error("no projection is named {name:?}; the names are {known}")]
    Unknown { name: String, known: String },
}
