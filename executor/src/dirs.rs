//! Workers' filesystem directories, created ahead of time. Every worker gets a
//! fresh, private preopened directory; creating one is a `mkdir` that costs
//! ~130 µs on ext4 here — most of instantiating a new worker — so a small pool of
//! empty directories is kept ready under the work directory and refilled in the
//! background, off the path of a worker's first invocation.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tempfile::TempDir;

/// Empty directories kept ready.
const READY: usize = 32;

/// A pool of empty, private directories under one parent.
#[derive(Debug)]
pub struct DirPool {
    parent: PathBuf,
    ready: Mutex<Vec<TempDir>>,
    refilling: std::sync::atomic::AtomicBool,
}

impl DirPool {
    pub fn new(parent: PathBuf) -> Arc<Self> {
        Arc::new(Self {
            parent,
            ready: Mutex::new(Vec::with_capacity(READY)),
            refilling: std::sync::atomic::AtomicBool::new(false),
        })
    }

    fn create(&self) -> std::io::Result<TempDir> {
        tempfile::Builder::new()
            .prefix("rvn-worker-")
            .tempdir_in(&self.parent)
    }

    /// An empty directory, removed with the returned handle. Taken from the pool when
    /// one is ready (then the pool is refilled in the background), else created now.
    pub fn take(self: &Arc<Self>) -> std::io::Result<TempDir> {
        let ready = self.ready.lock().unwrap_or_else(|e| e.into_inner()).pop();
        self.refill();
        match ready {
            Some(dir) => Ok(dir),
            None => self.create(),
        }
    }

    /// Tops the pool up on a blocking thread (at most one refill at a time; outside a
    /// tokio runtime there is no background and `take` creates directories itself).
    fn refill(self: &Arc<Self>) {
        use std::sync::atomic::Ordering;
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.refilling.swap(true, Ordering::AcqRel) {
            return;
        }
        let pool = self.clone();
        runtime.spawn_blocking(move || {
            loop {
                if pool.ready.lock().unwrap_or_else(|e| e.into_inner()).len() >= READY {
                    break;
                }
                match pool.create() {
                    Ok(dir) => pool
                        .ready
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(dir),
                    Err(e) => {
                        tracing::warn!(parent = %pool.parent.display(), error = %e, "could not prepare worker directories");
                        break;
                    }
                }
            }
            pool.refilling.store(false, Ordering::Release);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hands_out_distinct_empty_directories_and_refills() {
        let parent = tempfile::tempdir().expect("parent");
        let pool = DirPool::new(parent.path().to_path_buf());
        let a = pool.take().expect("first (created on the spot)");
        let b = pool.take().expect("second");
        assert_ne!(a.path(), b.path());
        assert!(std::fs::read_dir(a.path()).expect("a").next().is_none());
        // The background refill fills the pool.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while pool.ready.lock().expect("lock").len() < READY {
            assert!(std::time::Instant::now() < deadline, "pool never refilled");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let path = a.path().to_path_buf();
        drop(a);
        assert!(!path.exists(), "a directory is removed with its handle");
    }
}
