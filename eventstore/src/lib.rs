//! The event store: both backends (SQLite, the embedded default, and PostgreSQL) behind
//! one type, their migrations, the gap-free global log, and command execution with
//! optimistic concurrency and bounded retries.

mod backfill;
mod database;
mod error;
mod executor;
mod log;
mod metadata;
mod repository;
mod sqlite_writes;

pub use database::{Backend, Database, DatabaseOptions};
pub use error::{CommandError, StoreError};
pub use executor::{AggregateStore, Committed, Loaded, RetryPolicy, Storage};
pub use log::{
    EventLog, LogCursor, RecordedEvent, head_postgres, head_sqlite, read_after_postgres,
    read_after_sqlite, stream_postgres, stream_sqlite,
};
pub use metadata::{Actor, EventMetadata};
pub use repository::AnyEventRepository;
pub use sqlite_writes::{WriteTurn, make_durable, write_durably, write_turn};
