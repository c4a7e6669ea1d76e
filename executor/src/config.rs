//! Executor options. Every field has a documented default; the CLI sets them
//! from flags and environment variables, a file can set them in kebab-case.

use std::path::PathBuf;

use revenant_types::config::LeaseOptions;

pub use crate::decide::index::ResultsIndex;
use serde::{Deserialize, Serialize};

/// How a trapping invocation is retried before the worker is failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct RetryPolicy {
    /// Attempts in all, the first included. Default 3.
    pub max_attempts: u32,
    /// Delay before the first retry, ms. Default 100.
    pub initial_delay_ms: u64,
    /// Multiplier of the delay per retry. Default 2.
    pub multiplier: f64,
    /// Longest delay, ms. Default 5000.
    pub max_delay_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            initial_delay_ms: 100,
            multiplier: 2.0,
            max_delay_ms: 5_000,
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `retry` (1 = the first retry).
    pub fn delay_ms(&self, retry: u32) -> u64 {
        let d = self.initial_delay_ms as f64 * self.multiplier.powi(retry.saturating_sub(1) as i32);
        (d as u64).min(self.max_delay_ms)
    }
}

/// Options of one executor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct ExecutorOptions {
    /// This executor's id (lease owner). Default: `exec-<random>`.
    pub id: Option<String>,
    /// Compiled-component cache. Default `.revenant/cache`.
    pub cache_dir: PathBuf,
    /// Parent of the per-worker filesystem directories. Default: the system temp dir.
    pub work_dir: Option<PathBuf>,
    /// A worker idle this long is dropped from memory (recovered on its next invocation), ms. Default 60000.
    pub idle_timeout_ms: u64,
    /// Invocations a worker holds in memory (behind the running one, or while it is
    /// interrupted) before it parks them all in its oplog (`PendingInvocation`) and acks
    /// them, so one slow or interrupted worker never holds its shard's consumer. Default 32.
    pub max_held_per_worker: usize,
    /// Workers an executor keeps in memory at most, a hard limit (lowered to what
    /// `vm.max_map_count` leaves room for, [`crate::decide::room::limit`]): at it, or
    /// while a worker to be brought in waits for room, workers idle for
    /// `evict-idle-after-ms` or more are dropped (recovered on their next invocation).
    /// Default 10000.
    pub max_workers_in_memory: usize,
    /// How long a worker must have been idle to be dropped when over
    /// `max-workers-in-memory`, ms. Default 1000.
    pub evict_idle_after_ms: u64,
    /// The largest value an invocation may return (its JSON), bytes; a larger one is a
    /// `result-too-large` error. Capped by the server's max payload less 4 KiB (the
    /// reply must fit one message). Default 1 MiB.
    pub max_result_bytes: usize,
    /// A worker waiting this long for timers or promises only is suspended: its instance
    /// dropped, resumed by replay when what it waits for arrives, ms. Default 10000.
    pub suspend_after_ms: u64,
    /// Deadline of one invocation attempt, ms; past it the invocation fails with `deadline-exceeded`. Default 60000.
    pub invocation_timeout_ms: u64,
    /// Linear memory a worker may grow to, bytes. Default 256 MiB.
    pub memory_limit_bytes: usize,
    /// Retry policy for traps.
    pub retry: RetryPolicy,
    /// Shard lease timing.
    pub lease: LeaseOptions,
    /// Use wasmtime's pooling allocator (faster instantiation, reserves address space). Default false.
    pub pooling: bool,
    /// Invocations in flight per shard consumer. Default 1024.
    pub max_in_flight: usize,
    /// Deliveries of one invocation before it is given up: on the next one it is answered
    /// `delivery-exhausted` and dead-lettered (a redelivery follows a nak, e.g. when its
    /// worker cannot be recovered, or a lapsed ack wait). Default 50.
    pub max_deliveries: u32,
    /// Compiled components kept loaded, at most (least recently used are dropped). Default 64.
    pub component_cache_size: usize,
    /// Where to serve Prometheus `/metrics` (e.g. `127.0.0.1:9464`). Default: not served.
    pub metrics_listen: Option<String>,
    /// Take crash drills (`revenant executor crash <id>`: the process kills itself as
    /// `kill -9` would). Default false: drills are refused.
    pub allow_crash_drills: bool,
    /// Which answers go into the `RVN_RESULTS` index. Default [`ResultsIndex::Requested`].
    pub results_index: ResultsIndex,
}

impl Default for ExecutorOptions {
    fn default() -> Self {
        Self {
            id: None,
            cache_dir: PathBuf::from(".revenant/cache"),
            work_dir: None,
            idle_timeout_ms: 60_000,
            suspend_after_ms: 10_000,
            max_result_bytes: 1 << 20,
            max_held_per_worker: 32,
            max_workers_in_memory: 10_000,
            evict_idle_after_ms: 1_000,
            invocation_timeout_ms: 60_000,
            memory_limit_bytes: 256 << 20,
            retry: RetryPolicy::default(),
            lease: LeaseOptions::default(),
            pooling: false,
            max_in_flight: 1024,
            max_deliveries: 50,
            component_cache_size: 64,
            metrics_listen: None,
            allow_crash_drills: false,
            results_index: ResultsIndex::Requested,
        }
    }
}
