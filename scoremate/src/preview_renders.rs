//! How much on-demand page rendering (`GET /scores/{id}/pages/{n}/thumbnail`) one process
//! does at once: each render is a sandboxed child reading the whole PDF, so a client
//! asking for a thousand pages at once must not get a thousand children. A user has at
//! most [`PER_USER`] renders in flight — the next request is refused (429) at once — and
//! the process at most `total`; a render waits up to [`QUEUE_WAIT`] for one of those, then
//! is refused too. Previews already rendered are served from the object store and never
//! count.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aggregates::UserId;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Renders one user may have in flight.
pub const PER_USER: usize = 2;
/// How long a render waits for the process's capacity before it is refused.
pub const QUEUE_WAIT: Duration = Duration::from_secs(10);

/// Why a render was not started; the client may ask again after a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("this user has {PER_USER} page previews rendering already")]
    UserBusy,
    #[error("the server is rendering as many page previews as it can")]
    ServerBusy,
}

/// The process's render slots.
#[derive(Debug)]
pub struct PreviewRenders {
    total: Arc<Semaphore>,
    queue_wait: Duration,
    in_flight: Arc<Mutex<HashMap<UserId, usize>>>,
}

/// A render under way: frees its place when dropped (answered, failed or abandoned).
#[derive(Debug)]
pub struct RenderSlot {
    user: UserId,
    in_flight: Arc<Mutex<HashMap<UserId, usize>>>,
    /// The process's capacity, once granted.
    permit: Option<OwnedSemaphorePermit>,
}

impl PreviewRenders {
    /// At most `total` renders at once in this process (at least one), each waiting up to
    /// `queue_wait` ([`QUEUE_WAIT`] in service) for its turn.
    #[must_use]
    pub fn new(total: usize, queue_wait: Duration) -> Self {
        Self {
            total: Arc::new(Semaphore::new(total.max(1))),
            queue_wait,
            in_flight: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// A slot for one of `user`'s renders, or why not.
    ///
    /// # Errors
    /// [`Refused::UserBusy`] at once when the user has [`PER_USER`] in flight;
    /// [`Refused::ServerBusy`] when no capacity freed up within the queue wait.
    pub async fn slot(&self, user: UserId) -> Result<RenderSlot, Refused> {
        {
            let mut in_flight = self
                .in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let count = in_flight.entry(user).or_default();
            if *count >= PER_USER {
                return Err(Refused::UserBusy);
            }
            *count += 1;
        }
        // From here the user's place is taken: the slot gives it back on every path.
        let mut slot = RenderSlot {
            user,
            in_flight: Arc::clone(&self.in_flight),
            permit: None,
        };
        let permit = tokio::time::timeout(self.queue_wait, Arc::clone(&self.total).acquire_owned())
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or(Refused::ServerBusy)?;
        slot.permit = Some(permit);
        report(self.in_flight());
        Ok(slot)
    }

    /// Renders under way in this process now.
    #[must_use]
    pub fn in_flight(&self) -> usize {
        rendering(
            &self
                .in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }
}

impl Drop for RenderSlot {
    fn drop(&mut self) {
        release(&self.in_flight, self.user);
    }
}

fn release(in_flight: &Mutex<HashMap<UserId, usize>>, user: UserId) {
    let mut in_flight = in_flight.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(count) = in_flight.get_mut(&user) {
        *count = count.saturating_sub(1);
        if *count == 0 {
            in_flight.remove(&user);
        }
    }
    report(rendering(&in_flight));
}

fn rendering(in_flight: &HashMap<UserId, usize>) -> usize {
    in_flight.values().sum()
}

fn report(rendering: usize) {
    metrics::gauge!("scoremate_page_previews_rendering").set(rendering as f64);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(n: u128) -> UserId {
        UserId::from_uuid(uuid::Uuid::from_u128(n))
    }

    #[tokio::test]
    async fn a_user_gets_two_renders_at_once_and_others_are_not_held_up_by_them() {
        let renders = PreviewRenders::new(8, QUEUE_WAIT);
        let first = renders
            .slot(user(1))
            .await
            .unwrap_or_else(|error| panic!("{error}"));
        let second = renders
            .slot(user(1))
            .await
            .unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(renders.slot(user(1)).await.err(), Some(Refused::UserBusy));
        assert!(renders.slot(user(2)).await.is_ok(), "another user renders");
        assert_eq!(renders.in_flight(), 2, "the other user's slot was dropped");
        drop(first);
        assert!(
            renders.slot(user(1)).await.is_ok(),
            "a freed place is reused"
        );
        drop(second);
        assert_eq!(renders.in_flight(), 0);
    }

    #[tokio::test]
    async fn past_the_process_capacity_a_render_waits_then_is_refused() {
        let renders = PreviewRenders::new(1, Duration::from_millis(50));
        let busy = renders
            .slot(user(1))
            .await
            .unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(renders.slot(user(2)).await.err(), Some(Refused::ServerBusy));
        assert_eq!(
            renders.in_flight(),
            1,
            "the refused one gave its place back"
        );
        drop(busy);
        assert!(renders.slot(user(2)).await.is_ok());
    }
}
