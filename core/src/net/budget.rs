//! The receive budget: how many bytes the node holds that peers sent and that are not
//! processed yet (a frame being read, an operation waiting for validation), over all
//! connections together.
//!
//! The guarantee, whatever the number of peers and identities (identities are free):
//!
//! - **Bounded**: the node holds at most [`ReceiveBudget::total`] bytes of received frames
//!   (plus each connection's fixed read buffer). A frame's bytes are granted *before* its body
//!   is read, from its announced length (which [`read_frame`](super::catchup::read_frame)
//!   checks against the protocol's limit first), and returned once the frame is processed.
//! - **Fair**: with `n` connections registered, one may hold at most its share, the smaller
//!   of a per-connection budget and `total / n` bytes, or one frame of any allowed size
//!   while it holds nothing. Many identities therefore split the budget; none can fill it
//!   alone.
//! - **Progress**: grants are made in request order (a FIFO semaphore, no barging). A good
//!   peer's next frame is granted once the bytes granted before its request are processed;
//!   nobody can hold it back longer by sending more, since later requests queue behind it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Bytes of received frames the node holds at most, unless one operation is larger (then
/// the budget is that operation's size plus this): full ingest batches in both stages of the
/// ingest worker, with room for many connections.
pub(crate) const DEFAULT_RECEIVE_BUDGET: usize = 32 << 20;

/// Most bytes one connection holds (unless it holds a single larger frame): full ingest
/// batches of small operations, while many connections still fit in the budget.
pub(crate) const DEFAULT_CONNECTION_BUDGET: usize = 4 << 20;

/// The node-wide budget (cheap to clone; clones share it).
#[derive(Clone)]
pub(crate) struct ReceiveBudget(Arc<BudgetInner>);

struct BudgetInner {
    total: usize,
    per_connection: usize,
    bytes: Arc<Semaphore>,
    connections: AtomicUsize,
}

impl ReceiveBudget {
    /// A budget of `total` bytes, at most `per_connection` of them for one connection;
    /// `total` must be at least the largest frame a connection may be granted (see
    /// [`ConnectionBudget::acquire`]).
    pub(crate) fn new(total: usize, per_connection: usize) -> Self {
        let total = total.min(Semaphore::MAX_PERMITS);
        ReceiveBudget(Arc::new(BudgetInner {
            total,
            per_connection,
            bytes: Arc::new(Semaphore::new(total)),
            connections: AtomicUsize::new(0),
        }))
    }

    /// Bytes granted and not yet returned.
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.0.total - self.0.bytes.available_permits()
    }

    /// Registers a connection (a catch-up session, a direct-message stream) for as long as
    /// the returned handle lives.
    pub(crate) fn connection(&self) -> ConnectionBudget {
        self.0.connections.fetch_add(1, Ordering::AcqRel);
        ConnectionBudget {
            budget: self.0.clone(),
            own: Arc::new(Own::default()),
        }
    }
}

/// Bytes one connection holds, and a signal when some are returned.
#[derive(Default)]
struct Own {
    held: AtomicUsize,
    released: Notify,
}

/// One connection's part of the [`ReceiveBudget`].
pub(crate) struct ConnectionBudget {
    budget: Arc<BudgetInner>,
    own: Arc<Own>,
}

impl Drop for ConnectionBudget {
    fn drop(&mut self) {
        self.budget.connections.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Why a grant was not made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BudgetError {
    /// The frame is larger than the whole budget.
    TooLarge,
    /// The deadline passed first.
    TimedOut,
}

impl ConnectionBudget {
    /// This connection's fair share now: the budget split over the registered connections,
    /// at most the per-connection budget.
    pub(crate) fn share(&self) -> usize {
        let split = self.budget.total / self.budget.connections.load(Ordering::Acquire).max(1);
        split.min(self.budget.per_connection)
    }

    /// Bytes this connection holds.
    pub(crate) fn held(&self) -> usize {
        self.own.held.load(Ordering::Acquire)
    }

    fn fits_own(&self, len: usize) -> bool {
        let held = self.held();
        held == 0 || held.saturating_add(len) <= self.share()
    }

    /// Waits until `len` bytes are granted to this connection: first until they fit its
    /// share (or it holds nothing), then for them in the node-wide budget, in request order.
    pub(crate) async fn acquire(
        &self,
        len: usize,
        deadline: Instant,
    ) -> Result<Grant, BudgetError> {
        if len > self.budget.total {
            return Err(BudgetError::TooLarge);
        }
        loop {
            let released = self.own.released.notified();
            tokio::pin!(released);
            // Registered before the check: a release between check and wait wakes us.
            released.as_mut().enable();
            if self.fits_own(len) {
                break;
            }
            if tokio::time::timeout_at(deadline, released).await.is_err() && !self.fits_own(len) {
                return Err(BudgetError::TimedOut);
            }
        }
        let permits = u32::try_from(len).map_err(|_| BudgetError::TooLarge)?;
        let permit = tokio::time::timeout_at(
            deadline,
            self.budget.bytes.clone().acquire_many_owned(permits),
        )
        .await
        .map_err(|_| BudgetError::TimedOut)?
        .map_err(|_| BudgetError::TimedOut)?;
        Ok(self.grant(permit, len))
    }

    /// Grants `len` bytes at once if they fit both the share and the budget, else `None`.
    #[cfg(test)]
    pub(crate) fn try_acquire(&self, len: usize) -> Option<Grant> {
        if !self.fits_own(len) {
            return None;
        }
        let permits = u32::try_from(len).ok()?;
        let permit = self
            .budget
            .bytes
            .clone()
            .try_acquire_many_owned(permits)
            .ok()?;
        Some(self.grant(permit, len))
    }

    fn grant(&self, permit: OwnedSemaphorePermit, len: usize) -> Grant {
        self.own.held.fetch_add(len, Ordering::AcqRel);
        Grant {
            _permit: permit,
            own: self.own.clone(),
            len,
        }
    }
}

/// Bytes granted to a connection, returned to it and to the node-wide budget on drop (once
/// the frame they stand for was processed).
pub(crate) struct Grant {
    _permit: OwnedSemaphorePermit,
    own: Arc<Own>,
    len: usize,
}

impl Drop for Grant {
    fn drop(&mut self) {
        self.own.held.fetch_sub(self.len, Ordering::AcqRel);
        self.own.released.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn soon() -> Instant {
        Instant::now() + Duration::from_millis(50)
    }

    #[tokio::test]
    async fn the_budget_bounds_all_connections_and_shares_fairly() {
        let budget = ReceiveBudget::new(100, 60);
        let lone = budget.connection();
        assert_eq!(
            lone.share(),
            60,
            "the per-connection budget bounds a lone connection"
        );
        drop(lone);
        let (a, b) = (budget.connection(), budget.connection());
        assert_eq!(a.share(), 50);
        // A holding nothing may take one frame larger than its share...
        let big = a.acquire(70, soon()).await.unwrap();
        // ...but then nothing more beyond its share.
        assert_eq!(
            a.acquire(1, soon()).await.err(),
            Some(BudgetError::TimedOut)
        );
        // B gets what is left of the budget, not more.
        let b1 = b.acquire(30, soon()).await.unwrap();
        assert_eq!(
            b.acquire(10, soon()).await.err(),
            Some(BudgetError::TimedOut)
        );
        assert_eq!(budget.held(), 100);
        drop(big);
        let b2 = b.acquire(10, soon()).await.unwrap();
        assert_eq!(b.held(), 40);
        // Larger than the whole budget: refused at once.
        assert_eq!(
            a.acquire(101, soon()).await.err(),
            Some(BudgetError::TooLarge)
        );
        drop((b1, b2));
        assert_eq!(budget.held(), 0);
        // More connections, smaller shares.
        let more: Vec<_> = (0..8).map(|_| budget.connection()).collect();
        assert_eq!(a.share(), 10);
        drop(more);
        assert_eq!(a.share(), 50);
    }

    #[tokio::test]
    async fn grants_follow_request_order() {
        // A waiting request is not overtaken by later ones: a good peer's large frame
        // waiting for room is granted before a flood that keeps asking.
        let budget = ReceiveBudget::new(100, 100);
        let (hostile, good) = (budget.connection(), budget.connection());
        let held = hostile.acquire(60, soon()).await.unwrap();
        let waiter = tokio::spawn(async move {
            let grant = good
                .acquire(50, Instant::now() + Duration::from_secs(10))
                .await
                .map(|g| g.len);
            (good, grant)
        });
        // Until the good peer's request is queued.
        let deadline = Instant::now() + Duration::from_secs(5);
        while budget.0.bytes.available_permits() != 0 {
            assert!(Instant::now() < deadline, "the request is queued");
            tokio::task::yield_now().await;
        }
        // 40 bytes were free, but the good peer's 50 asked first: a later request does
        // not barge in.
        let other = budget.connection();
        assert!(other.try_acquire(10).is_none());
        drop(held);
        let (_good, got) = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("the waiter is granted after the release")
            .expect("task");
        assert_eq!(got, Ok(50));
    }
}
