//! What this process knows of a follower's checkpoint without asking the database: a
//! lower bound, moved forward after every step. The serve loop skips a follower whose
//! known checkpoint has reached the log head (no transaction, so on SQLite no write lock
//! taken for nothing), and a request waiting for its own change to reach a read model
//! watches it instead of stepping the projection itself.

use eventstore::LogCursor;
use tokio::sync::watch;

#[derive(Debug)]
pub struct Progress(watch::Sender<LogCursor>);

impl Default for Progress {
    fn default() -> Self {
        Self(watch::Sender::new(LogCursor::START))
    }
}

impl Progress {
    /// The checkpoint has reached `cursor`; an older cursor changes nothing (another
    /// instance may have moved the checkpoint further meanwhile).
    pub fn reached(&self, cursor: LogCursor) {
        self.0.send_if_modified(|known| {
            let moved = cursor > *known;
            if moved {
                *known = cursor;
            }
            moved
        });
    }

    /// The furthest checkpoint seen so far.
    pub fn get(&self) -> LogCursor {
        *self.0.borrow()
    }

    pub fn subscribe(&self) -> watch::Receiver<LogCursor> {
        self.0.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(position: i64) -> LogCursor {
        LogCursor {
            transaction_id: 0,
            position,
        }
    }

    #[test]
    fn progress_never_moves_back() {
        let progress = Progress::default();
        progress.reached(at(5));
        progress.reached(at(3));
        assert_eq!(progress.get(), at(5));
    }

    #[tokio::test]
    async fn a_watcher_wakes_when_the_checkpoint_moves() {
        let progress = Progress::default();
        let mut watcher = progress.subscribe();
        progress.reached(at(1));
        assert!(watcher.changed().await.is_ok());
        assert_eq!(*watcher.borrow(), at(1));
    }
}
