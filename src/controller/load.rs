//! The operator's load: whether UpdateChatGroup calls are under way (while they are, the
//! re-queues a scan asks for — confirmations, mostly status writes — go slowly, so the API
//! server and the workers serve the calls first), and how many writes to the API server are
//! sent at once.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long after the last call ended the load still counts as busy: between two calls of
/// one worker (its status write and event) the count drops to zero for a moment.
const LINGER: Duration = Duration::from_millis(250);

/// Counts the calls under way (from the rate limiter's wait to CAMS's answer).
#[derive(Debug)]
pub struct CallLoad {
    in_flight: AtomicUsize,
    base: Instant,
    /// Milliseconds from `base` to when the last call ended (0: never).
    last_end_ms: AtomicU64,
}

impl Default for CallLoad {
    fn default() -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            base: Instant::now(),
            last_end_ms: AtomicU64::new(0),
        }
    }
}

impl CallLoad {
    /// Counts a call until the returned guard is dropped.
    pub fn enter(&self) -> CallGuard<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        CallGuard(self)
    }

    /// Whether a call is under way or ended less than a moment ago.
    pub fn busy(&self) -> bool {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return true;
        }
        let last = self.last_end_ms.load(Ordering::Relaxed);
        last != 0 && self.millis_now().saturating_sub(last) < LINGER.as_millis() as u64
    }

    fn millis_now(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }
}

/// A call being counted.
pub struct CallGuard<'a>(&'a CallLoad);

impl Drop for CallGuard<'_> {
    fn drop(&mut self) {
        let load = self.0;
        load.last_end_ms.store(load.millis_now(), Ordering::Relaxed);
        load.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Status writes and events sent to the API server at once, whatever `--concurrency` is: each
/// one in flight holds an HTTP/1.1 connection (and its TLS and buffers, about 40 KB), and the
/// API server answers them one after another anyway (`make bench`, unthrottled converge).
pub const API_WRITES: usize = 16;

/// Takes turns for the writes to the API server.
#[derive(Debug)]
pub struct ApiWrites(tokio::sync::Semaphore);

impl Default for ApiWrites {
    fn default() -> Self {
        Self(tokio::sync::Semaphore::new(API_WRITES))
    }
}

impl ApiWrites {
    /// Waits for a turn, held until the returned permit is dropped (`None`: never closed, so
    /// never in practice; the write then goes without a turn).
    pub async fn turn(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.0.acquire().await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_while_a_call_is_under_way_and_a_moment_after() {
        let load = CallLoad::default();
        assert!(!load.busy(), "no call yet");
        let first = load.enter();
        let second = load.enter();
        assert!(load.busy());
        drop(first);
        assert!(load.busy(), "one call still under way");
        drop(second);
        assert!(load.busy(), "just ended");
        std::thread::sleep(LINGER + Duration::from_millis(50));
        assert!(!load.busy(), "quiet after the linger");
    }

    #[tokio::test]
    async fn api_writes_take_turns() {
        let writes = ApiWrites::default();
        let mut held = Vec::new();
        for _ in 0..API_WRITES {
            held.push(writes.turn().await);
        }
        let waiting = tokio::time::timeout(Duration::from_millis(50), writes.turn()).await;
        assert!(
            waiting.is_err(),
            "one more write waits while all turns are taken"
        );
        held.pop();
        let next = tokio::time::timeout(Duration::from_millis(50), writes.turn()).await;
        assert!(next.is_ok(), "a turn given back is taken");
    }
}
