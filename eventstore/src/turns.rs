//! Turns on a contended aggregate, within one process.
//!
//! Commands race optimistically: each decides on the state it loaded and the append of
//! the loser is decided again. That is cheap while races are rare, but a hot aggregate
//! (a user's quota while a page uploads a dozen files at once) lets fresh commands keep
//! beating one that is retrying, until it runs out of attempts. So a command that lost a
//! race takes the aggregate's turn for its retries, and a command arriving while anyone
//! holds or waits for that turn queues behind it instead of racing: under contention the
//! commands of this process go one at a time, and the retries only arbitrate between
//! processes. Once nobody waits, the aggregate is forgotten and commands race again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::OwnedMutexGuard;

type TurnLock = Arc<tokio::sync::Mutex<()>>;

/// The aggregates of one store that have a turn held or waited for.
#[derive(Debug, Default)]
pub(crate) struct Turns {
    contended: Mutex<HashMap<String, TurnLock>>,
}

/// The turn on one aggregate: released (and the aggregate forgotten when nobody waits)
/// when dropped.
pub(crate) struct Turn<'t> {
    turns: &'t Turns,
    aggregate_id: String,
    lock: TurnLock,
    guard: Option<OwnedMutexGuard<()>>,
}

impl Turns {
    /// The aggregate's turn, after whoever holds or waits for it.
    pub(crate) async fn take(&self, aggregate_id: &str) -> Turn<'_> {
        let lock = Arc::clone(
            self.contended
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(aggregate_id.to_owned())
                .or_default(),
        );
        self.wait_for(aggregate_id, lock).await
    }

    /// The aggregate's turn when it is contended now (someone holds or waits for it);
    /// `None` at once when it is not, and the command may race.
    pub(crate) async fn join_queue(&self, aggregate_id: &str) -> Option<Turn<'_>> {
        let lock = self
            .contended
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(aggregate_id)
            .map(Arc::clone)?;
        Some(self.wait_for(aggregate_id, lock).await)
    }

    async fn wait_for(&self, aggregate_id: &str, lock: TurnLock) -> Turn<'_> {
        let guard = Arc::clone(&lock).lock_owned().await;
        Turn {
            turns: self,
            aggregate_id: aggregate_id.to_owned(),
            lock,
            guard: Some(guard),
        }
    }

    #[cfg(test)]
    fn contended_count(&self) -> usize {
        self.contended
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut contended = self
            .turns
            .contended
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Held by the map and by this turn only: nobody waits (a waiter clones the lock
        // under the map's mutex, so none can appear while this check runs).
        if Arc::strong_count(&self.lock) == 2 {
            contended.remove(&self.aggregate_id);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn arrivals_queue_only_while_a_turn_is_held_or_awaited() {
        let turns = Arc::new(Turns::default());
        assert!(turns.join_queue("a").await.is_none());
        let held = turns.take("a").await;
        assert_eq!(turns.contended_count(), 1);
        let queued = {
            let turns = Arc::clone(&turns);
            tokio::spawn(async move { turns.join_queue("a").await.is_some() })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!queued.is_finished(), "an arrival waits for the turn");
        assert!(
            turns.join_queue("b").await.is_none(),
            "other aggregates race"
        );
        drop(held);
        assert!(queued.await.unwrap());
        assert_eq!(turns.contended_count(), 0, "forgotten once nobody waits");
    }
}
