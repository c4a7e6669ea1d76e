//! The Revenant executor: hosts durable workers. It owns the wasmtime engine
//! and the on-disk cache of compiled components, the durable host functions
//! that journal every non-deterministic WASI call, replay of a worker's oplog,
//! the per-worker mailboxes that run invocations one at a time, and shard
//! ownership through the lease manager. It does not speak NATS itself: every
//! subject, stream and bucket goes through `revenant-nats`. Nor does it read
//! component metadata or upload components: `revenant-components` inspects a
//! binary without wasmtime and `revenant-nats` stores it; worker create/delete
//! are `revenant_nats::workers`.
//!
//! Layout:
//! - [`allocator`]: giving the heap of suspended workers back to the OS.
//! - [`dirs`]: workers' filesystem directories, prepared ahead of time.
//! - [`config`]: executor options (limits, retry policy, idle time, cache dir).
//! - [`engine`]: wasmtime engine, epoch ticker, compiled-component cache.
//! - [`values`]: the one JSON/WAVE ↔ WIT value mapping.
//! - [`durable`]: the journal and the durable host functions (clocks, random, stdio, HTTP).
//! - [`replay`]: the pure replay plan computed from an oplog.
//! - [`worker`]: one live worker: instance, invocation, recovery.
//! - [`components`]: loading components (compile cache, linker, export lookup by name).
//! - [`runtime`]: the service: shard consumers, mailboxes, replies, dead letters, the call bridge.
//! - [`shards`]: shard leases, heartbeats, balancing and hand-over.
//! - [`control`]: interrupt / resume requests: routing to the shard holder, stopping and holding invocations.
//! - [`metrics`]: Prometheus metrics (invocations, recoveries, shards, failover time) and `/metrics`.

pub mod allocator;
pub mod components;
pub mod config;
pub mod context;
pub mod control;
pub mod dirs;
pub mod durable;
pub mod engine;
pub mod metrics;
pub mod replay;
pub mod runtime;
pub mod shards;
pub mod values;
pub mod worker;

pub use config::ExecutorOptions;
pub use runtime::{Executor, run};
