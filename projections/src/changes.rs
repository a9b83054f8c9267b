//! Whose library changed: the owners a committed batch touched, told to the requests
//! long-polling for their own changes (`GET /api/v1/sync?wait=`), in this process at once
//! and in the others through `NOTIFY scoremate_changes` (PostgreSQL). A waiter wakes only
//! for its own owner, so a thousand idle waiters cost nothing while others write.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

/// The owners whose rows a batch wrote (user ids, as the read models store them).
pub type Owners = BTreeSet<String>;

/// The channel other processes hear changed owners on.
pub const CHANGES_CHANNEL: &str = "scoremate_changes";

/// PostgreSQL refuses a notification payload of 8000 bytes or more: owners go in chunks
/// of this many (a UUID and a space are 37 bytes).
const OWNERS_PER_NOTIFICATION: usize = 200;

/// The waiters of each owner, and the announcements that wake them.
#[derive(Debug, Default)]
pub struct OwnerChanges {
    waiters: Mutex<HashMap<String, Waiters>>,
}

#[derive(Debug)]
struct Waiters {
    notify: Arc<Notify>,
    count: usize,
}

impl OwnerChanges {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a waiter for `owner`'s changes until the subscription is dropped.
    pub fn subscribe(self: &Arc<Self>, owner: &str) -> Subscription {
        let mut waiters = self.waiters.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = waiters.entry(owner.to_owned()).or_insert_with(|| Waiters {
            notify: Arc::new(Notify::new()),
            count: 0,
        });
        entry.count += 1;
        Subscription {
            changes: Arc::clone(self),
            owner: owner.to_owned(),
            notify: Arc::clone(&entry.notify),
        }
    }

    /// Wakes every waiter of these owners.
    pub fn announce<'a>(&self, owners: impl IntoIterator<Item = &'a str>) {
        let waiters = self.waiters.lock().unwrap_or_else(PoisonError::into_inner);
        if waiters.is_empty() {
            return;
        }
        for owner in owners {
            if let Some(entry) = waiters.get(owner) {
                entry.notify.notify_waiters();
            }
        }
    }

    /// How many owners have a waiter (for metrics and tests).
    pub fn watched_owners(&self) -> usize {
        self.waiters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    fn unsubscribe(&self, owner: &str) {
        let mut waiters = self.waiters.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = waiters.get_mut(owner) {
            entry.count -= 1;
            if entry.count == 0 {
                waiters.remove(owner);
            }
        }
    }
}

/// One waiter's registration; `notify` is woken by every announcement of its owner.
#[derive(Debug)]
pub struct Subscription {
    changes: Arc<OwnerChanges>,
    owner: String,
    notify: Arc<Notify>,
}

impl Subscription {
    /// What wakes this waiter. Create and `enable` the `Notified` future before looking
    /// for changes, so an announcement between the look and the wait is not missed.
    pub fn notify(&self) -> &Notify {
        &self.notify
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.changes.unsubscribe(&self.owner);
    }
}

/// The `scoremate_changes` notifications telling the other processes that `owners`
/// changed (sent with the checkpoint's, when the batch's transaction commits).
pub fn owner_notifications(owners: &Owners) -> Vec<(&'static str, String)> {
    let owners: Vec<&str> = owners.iter().map(String::as_str).collect();
    owners
        .chunks(OWNERS_PER_NOTIFICATION)
        .map(|chunk| (CHANGES_CHANNEL, chunk.join(" ")))
        .collect()
}

/// The owners a `scoremate_changes` notification names.
pub fn parse_owners(payload: &str) -> impl Iterator<Item = &str> {
    payload.split(' ').filter(|owner| !owner.is_empty())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_waiter_wakes_for_its_own_owner_only() {
        let changes = Arc::new(OwnerChanges::new());
        let mine = changes.subscribe("alice");
        let woken = mine.notify().notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        changes.announce(["bob"]);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), woken.as_mut())
                .await
                .is_err()
        );
        changes.announce(parse_owners("bob alice"));
        assert!(
            tokio::time::timeout(Duration::from_secs(1), woken)
                .await
                .is_ok()
        );
    }

    #[test]
    fn owners_go_out_in_notifications_below_the_payload_limit() {
        let owners: Owners = (0..450).map(uuid_like).collect();
        let notifications = owner_notifications(&owners);
        assert_eq!(notifications.len(), 3);
        let mut heard = Owners::new();
        for (channel, payload) in &notifications {
            assert_eq!(*channel, CHANGES_CHANNEL);
            assert!(payload.len() < 8000, "{} bytes", payload.len());
            heard.extend(parse_owners(payload).map(str::to_owned));
        }
        assert_eq!(heard, owners);
    }

    fn uuid_like(n: u32) -> String {
        format!("00000000-0000-0000-0000-{n:012}")
    }

    #[test]
    fn the_registry_forgets_an_owner_with_its_last_waiter() {
        let changes = Arc::new(OwnerChanges::new());
        let first = changes.subscribe("alice");
        let second = changes.subscribe("alice");
        assert_eq!(changes.watched_owners(), 1);
        drop(first);
        assert_eq!(changes.watched_owners(), 1);
        drop(second);
        assert_eq!(changes.watched_owners(), 0);
    }
}
