//! SQLite's one writer, shared without sleeping, and its commits made durable outside the
//! write lock.
//!
//! A writer that finds SQLite's write lock taken sleeps in the busy handler, in fixed steps
//! of 1 to 100 ms, and wakes long after the lock is free. This process's writers therefore
//! take turns here first, in arrival order, and each starts the moment the previous one
//! has committed. The pool runs `synchronous = NORMAL` (a commit does not wait for the
//! disk, so the lock is held for microseconds); what must survive a power loss — an
//! acknowledged command — is made durable by [`make_durable`], an `fsync` of the WAL after
//! the commit and outside the lock, which also covers every commit before it. Concurrent
//! commands' syncs overlap: several commits, one flush (group commit). Read-model and job
//! writes skip it: after a power loss the newest of them may be gone, together with the
//! checkpoint that moved with them, and are applied again.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Weak};

use sqlx::SqlitePool;
use tokio::sync::{Mutex, OwnedMutexGuard};

/// This process's turn to write to one SQLite database; the next writer's starts when it
/// is dropped.
#[derive(Debug)]
pub struct WriteTurn {
    _turn: OwnedMutexGuard<()>,
}

/// One queue per database file. `SqlitePool` has no room for it, and a process may open
/// the same file through several pools (the CLI beside tests), so the file names it.
static QUEUES: LazyLock<std::sync::Mutex<HashMap<PathBuf, Weak<Mutex<()>>>>> =
    LazyLock::new(Default::default);

fn queue_of(path: &Path) -> Arc<Mutex<()>> {
    let mut queues = QUEUES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(queue) = queues.get(path).and_then(Weak::upgrade) {
        return queue;
    }
    queues.retain(|_, queue| queue.strong_count() > 0);
    let queue = Arc::new(Mutex::new(()));
    queues.insert(path.to_path_buf(), Arc::downgrade(&queue));
    queue
}

/// Waits for this process's turn to write to the database of `pool`.
pub async fn write_turn(pool: &SqlitePool) -> WriteTurn {
    let queue = queue_of(pool.connect_options().get_filename());
    WriteTurn {
        _turn: queue.lock_owned().await,
    }
}

/// Runs `write` in this process's turn, then, outside it, makes it durable: how an
/// acknowledged write (a command's append, the answer stored for its idempotency key) is
/// made. `io_error` turns a failed flush into the caller's error type.
pub async fn write_durably<T, E>(
    pool: &SqlitePool,
    write: impl Future<Output = Result<T, E>>,
    io_error: impl FnOnce(std::io::Error) -> E,
) -> Result<T, E> {
    let turn = write_turn(pool).await;
    let written = write.await?;
    drop(turn);
    make_durable(pool).await.map_err(io_error)?;
    Ok(written)
}

/// Makes every transaction committed so far on the database of `pool` survive a power
/// loss: flushes its WAL (or, when a checkpoint has emptied and removed it, the database
/// file, which the checkpoint flushed already).
pub async fn make_durable(pool: &SqlitePool) -> std::io::Result<()> {
    let database = pool.connect_options().get_filename().to_path_buf();
    if database.as_os_str().is_empty() || database == Path::new(":memory:") {
        return Ok(());
    }
    tokio::task::spawn_blocking(move || {
        let mut wal = database.clone().into_os_string();
        wal.push("-wal");
        match std::fs::File::open(&wal) {
            Ok(file) => file.sync_data(),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                std::fs::File::open(&database)?.sync_data()
            }
            Err(error) => Err(error),
        }
    })
    .await
    .map_err(std::io::Error::other)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writers_of_one_file_take_turns_and_other_files_do_not_wait() {
        let first = queue_of(Path::new("/a.db")).lock_owned().await;
        let same = queue_of(Path::new("/a.db"));
        assert!(same.try_lock().is_err());
        assert!(queue_of(Path::new("/b.db")).try_lock().is_ok());
        drop(first);
        assert!(same.try_lock().is_ok());
    }
}
