//! One confirmation per upload at a time, across every `serve` process.
//!
//! A confirmation copies the staged bytes onto the score's own key, then verifies and
//! records them. Two confirmations of one upload interleaved could let the second copy
//! (of bytes PUT meanwhile) land after the first one recorded what it verified. So each
//! confirmation holds this lock from before it reads the upload's state until it has
//! recorded the outcome; a second one waits (at most [`WAIT`]) and then reads the state the
//! first one left. In one process an async mutex per upload id; on PostgreSQL also a
//! session advisory lock in a key space of its own (the two-key form, which never meets
//! the followers' one-key locks). Its session is a connection of a small pool of its own:
//! confirmations holding locks must never take the connections their commands need.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aggregates::UploadId;
use eventstore::Database;
use sqlx::pool::PoolConnection;
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Postgres};
use tokio::sync::OwnedMutexGuard;

/// First key of the advisory locks taken here ("UPLD").
const LOCK_SPACE: i32 = 0x5550_4C44;
/// How long a confirmation waits for another one of the same upload.
pub const WAIT: Duration = Duration::from_secs(30);
/// How often it asks PostgreSQL again while another process holds the lock.
const POLL: Duration = Duration::from_millis(50);
/// Confirmations one process runs at once on PostgreSQL (one lock session each).
const LOCK_SESSIONS: u32 = 8;

/// The uploads being confirmed by this process.
#[derive(Debug)]
pub struct UploadLocks {
    held: Mutex<HashMap<UploadId, Arc<tokio::sync::Mutex<()>>>>,
    /// The sessions holding the advisory locks; `None` on SQLite, which serves one process.
    sessions: Option<PgPool>,
}

impl UploadLocks {
    /// Locks for uploads of `database`; connects nothing until the first lock.
    #[must_use]
    pub fn new(database: &Database) -> Self {
        let sessions = match database {
            Database::Postgres(pool) => Some(
                PgPoolOptions::new()
                    .max_connections(LOCK_SESSIONS)
                    .min_connections(0)
                    .acquire_timeout(WAIT)
                    .idle_timeout(Duration::from_secs(60))
                    .connect_lazy_with((*pool.connect_options()).clone()),
            ),
            Database::Sqlite(_) => None,
        };
        Self {
            held: Mutex::default(),
            sessions,
        }
    }

    /// The lock of `upload`, once no other confirmation (of this or, on PostgreSQL,
    /// another process) holds it; `None` when that took longer than [`WAIT`].
    pub async fn lock(&self, upload: UploadId) -> Result<Option<UploadLock<'_>>, sqlx::Error> {
        self.lock_within(upload, WAIT).await
    }

    async fn lock_within(
        &self,
        upload: UploadId,
        wait: Duration,
    ) -> Result<Option<UploadLock<'_>>, sqlx::Error> {
        let deadline = tokio::time::Instant::now() + wait;
        let mutex = Arc::clone(
            self.held
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(upload)
                .or_default(),
        );
        let local = tokio::time::timeout_at(deadline, mutex.lock_owned()).await;
        // From here on the guard tidies the map up, whatever happens.
        let mut lock = UploadLock {
            locks: self,
            upload,
            local: local.ok(),
            session: None,
        };
        if lock.local.is_none() {
            return Ok(None);
        }
        if let Some(sessions) = &self.sessions {
            let mut session = sessions.acquire().await?;
            loop {
                let acquired: bool =
                    sqlx::query_scalar("SELECT pg_try_advisory_lock($1, hashtext($2))")
                        .bind(LOCK_SPACE)
                        .bind(upload.to_string())
                        .fetch_one(&mut *session)
                        .await?;
                if acquired {
                    break;
                }
                if tokio::time::Instant::now() + POLL >= deadline {
                    return Ok(None);
                }
                tokio::time::sleep(POLL).await;
            }
            lock.session = Some(session);
        }
        Ok(Some(lock))
    }

    /// Closes the lock sessions (at shutdown, after the last request).
    pub async fn close(&self) {
        if let Some(sessions) = &self.sessions {
            sessions.close().await;
        }
    }
}

/// A held lock; [`UploadLock::release`] it. Dropped without that (a cancelled request), its
/// session leaves the pool and ends, and the lock with it.
#[derive(Debug)]
pub struct UploadLock<'a> {
    locks: &'a UploadLocks,
    upload: UploadId,
    local: Option<OwnedMutexGuard<()>>,
    session: Option<PoolConnection<Postgres>>,
}

impl UploadLock<'_> {
    /// Releases the lock and gives its session back to the pool.
    pub async fn release(mut self) {
        let Some(mut session) = self.session.take() else {
            return;
        };
        let unlocked = sqlx::query("SELECT pg_advisory_unlock($1, hashtext($2))")
            .bind(LOCK_SPACE)
            .bind(self.upload.to_string())
            .execute(&mut *session)
            .await;
        if let Err(error) = unlocked {
            tracing::warn!(%error, "releasing an upload lock failed; closing its session");
            // A pooled session must never keep the lock: closing it drops the lock.
            let _ = session.close().await;
        }
    }
}

impl Drop for UploadLock<'_> {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            drop(session.detach());
        }
        drop(self.local.take());
        // The entry goes with its last user; a waiter holds a clone and keeps it.
        let mut held = self
            .locks
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if held
            .get(&self.upload)
            .is_some_and(|mutex| Arc::strong_count(mutex) == 1)
        {
            held.remove(&self.upload);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn locks() -> Result<UploadLocks, eventstore::StoreError> {
        let database =
            Database::connect("sqlite::memory:", &eventstore::DatabaseOptions::default()).await?;
        Ok(UploadLocks::new(&database))
    }

    #[tokio::test]
    async fn a_second_lock_of_an_upload_waits_for_the_first()
    -> Result<(), Box<dyn std::error::Error>> {
        let locks = Arc::new(locks().await?);
        let upload = UploadId::from_uuid(uuid::Uuid::now_v7());
        let first = locks.lock(upload).await?.ok_or("not locked")?;

        let waiting = tokio::spawn({
            let locks = Arc::clone(&locks);
            async move { locks.lock(upload).await.map(|lock| lock.is_some()) }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        let other = UploadId::from_uuid(uuid::Uuid::now_v7());
        assert!(locks.lock(other).await?.is_some(), "other uploads are free");
        first.release().await;

        assert!(waiting.await??);
        assert!(
            locks
                .held
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_empty(),
            "no entry outlives its locks"
        );
        Ok(())
    }

    #[tokio::test]
    async fn a_lock_held_too_long_is_given_up_on() -> Result<(), Box<dyn std::error::Error>> {
        let locks = locks().await?;
        let upload = UploadId::from_uuid(uuid::Uuid::now_v7());
        let _held = locks.lock(upload).await?;

        let wait = Duration::from_millis(20);
        assert!(locks.lock_within(upload, wait).await?.is_none());
        Ok(())
    }
}
