//! The event store: both backends (SQLite, the embedded default, and PostgreSQL) behind
//! one type, their migrations, the gap-free global log, and command execution with
//! optimistic concurrency and bounded retries.
//!
//! - `database`: one `Database` over a SQLite or PostgreSQL pool, connected and migrated;
//! - `repository`: the cqrs-es event repositories of both backends as one type;
//! - `executor`: `AggregateStore` — load, decide, commit, retry on a lost race; snapshots;
//! - `turns`: commands on a contended aggregate take turns within a process;
//! - `log`: the global log followers read after a checkpoint, never skipping a late commit;
//! - `sqlite_writes`: SQLite's single writer turn and durable commits;
//! - `backfill`: one-time data steps after the migrations, run once across processes;
//! - `metadata`, `error`: what every event carries; what can fail.

mod backfill;
mod database;
mod error;
mod executor;
mod log;
mod metadata;
mod repository;
mod sqlite_writes;
mod turns;

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
