//! What every connection shares: the state behind one lock, the count of hanging calls and
//! the start time.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::state::State;

/// The simulator's shared state, handed to every connection.
#[derive(Debug)]
pub struct App {
    state: Mutex<State>,
    hanging: AtomicUsize,
    started: Instant,
}

impl App {
    /// Wraps the state; the uptime counts from now.
    pub fn new(state: State) -> Self {
        Self {
            state: Mutex::new(state),
            hanging: AtomicUsize::new(0),
            started: Instant::now(),
        }
    }

    /// Locks the state (a panic while holding the lock does not make it unusable).
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a hanging call for as long as the guard lives.
    pub fn hang_guard(&self) -> HangGuard<'_> {
        self.hanging.fetch_add(1, Ordering::Relaxed);
        HangGuard(&self.hanging)
    }

    /// How many calls a hang fault holds right now.
    pub fn hanging(&self) -> usize {
        self.hanging.load(Ordering::Relaxed)
    }

    /// Time since the simulator started.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }
}

/// Counts one hanging call while alive; see [`App::hang_guard`].
pub struct HangGuard<'a>(&'a AtomicUsize);

impl Drop for HangGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
