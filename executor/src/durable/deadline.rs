//! An invocation's deadline as the executor keeps it: one instant shared by the
//! epoch check (while wasm runs), the watcher of host waits, and durable waits.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The running invocation's deadline, shared by the epoch check (while wasm runs),
/// the watcher of host waits ([`Deadline::passed`]) and durable waits, which move it
/// by their length (waiting for a timer or a promise is not work). Cheap to clone.
#[derive(Clone, Debug)]
pub struct Deadline(Arc<Mutex<Instant>>);

impl Default for Deadline {
    fn default() -> Self {
        Self(Arc::new(Mutex::new(far_future())))
    }
}

/// A deadline that never comes (replay runs without one).
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600)
}

impl Deadline {
    fn lock(&self) -> std::sync::MutexGuard<'_, Instant> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a call: `timeout` from now, or none.
    pub fn start(&self, timeout: Option<Duration>) {
        *self.lock() = timeout.map_or_else(far_future, |t| Instant::now() + t);
    }

    pub fn at(&self) -> Instant {
        *self.lock()
    }

    /// Runs `wait` with the deadline paused: afterwards it is as far away as before.
    pub async fn paused<F: Future>(&self, wait: F) -> F::Output {
        let (at, started) = (self.at(), Instant::now());
        *self.lock() = far_future();
        let out = wait.await;
        *self.lock() = at + started.elapsed();
        out
    }

    pub fn is_past(&self) -> bool {
        Instant::now() >= self.at()
    }

    /// Resolves once the deadline has passed (following it when it moves).
    pub async fn passed(&self) {
        loop {
            tokio::time::sleep_until(self.at().into()).await;
            if self.is_past() {
                return;
            }
        }
    }
}
