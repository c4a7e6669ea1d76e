//! The Revenant executor: hosts durable workers. It owns the wasmtime engine
//! and the on-disk cache of compiled components, the durable host functions
//! that journal every non-deterministic WASI call, replay of a worker's oplog,
//! the per-worker mailboxes that run invocations one at a time, and shard
//! ownership through the lease manager. It does not speak NATS itself: every
//! subject, stream and bucket goes through `revenant-nats`. Nor does it read
//! component metadata or upload components: `revenant-components` inspects a
//! binary without wasmtime and `revenant-nats` stores it; worker create and the
//! delete request are `revenant_nats::workers` (the delete itself is done here, by
//! the shard holder: [`delete`]).
//!
//! Layout — pure decisions first (no NATS, no wasmtime; unit-tested), then
//! the drivers that perform them:
//! - [`decide`]: the invocation decision (reject / recover / answer / hold / park / run), inbox
//!   message kinds and wake-ups (fired timers, promise completions, call results), the
//!   worker-to-worker call keys, control requests, and what a subscription's forwarder does.
//! - [`attempt`]: what an attempt leads to (retry, complete, fail) and the replay verdict.
//! - [`balance`]: shard balancing (share, hand-over, claims, wake-up time).
//! - [`replay`]: the replay plan computed from an oplog.
//! - [`inspect`]: time travel: the prefix to replay for a state as of an index, and what each re-run showed.
//! - [`durable`]: the journal (the pure [`durable::cursor`] plus the fenced writer) and the
//!   durable host functions (clocks, random, stdio, HTTP, `revenant:api`,
//!   [`durable::waits`]: durable timers, journaled readiness, suspension, and
//!   [`durable::rpc`] / [`durable::rpc_client`]: worker-to-worker calls, untyped and typed).
//! - [`context`]: what every part shares (`WorkerEnv`, mailbox input, control routes).
//! - [`config`]: executor options (limits, retry policy, idle time, cache dir).
//! - [`engine`]: wasmtime engine, epoch ticker, compiled-component cache.
//! - [`components`]: loading components (compile cache, linker with typed RPC clients).
//! - [`exports`]: finding a component's exported functions by full name.
//! - [`values`]: the one JSON/WAVE ↔ WIT value mapping.
//! - [`arguments`]: resolving the function and typing an invocation's arguments.
//! - [`store`], [`live`]: a worker's wasmtime store, and calling into its instance.
//! - [`worker`]: one live worker: recovery, invocation attempts, interrupt/resume,
//!   suspension, wake-ups and parked invocations.
//! - [`inbox`]: what a mailbox runs (a message, a parked invocation, a tail) under one view.
//! - [`status`], [`reply`]: the worker record and events; answers, rejections and dead letters.
//! - [`mailbox`]: one worker's invocation pipeline (the driver of [`decide`]).
//! - [`control`]: interrupt / resume / delete requests: routing to the shard holder, stopping and holding;
//!   time-travel requests, answered by the shard holder from a throwaway replay.
//! - [`delete`]: deleting a worker: the tombstone, the purge that keeps it, the record.
//! - [`shard`]: one shard's consumer, handing messages to mailboxes.
//! - [`shards`]: shard leases, heartbeats and hand-over (the driver of [`balance`]).
//! - [`subscriptions`]: the subscriptions this executor runs under their leases, and each one's
//!   forwarder (source messages → invocations → acks or dead letters, as [`decide::subscription`] says).
//! - [`bridge`]: `<ns>.call.*.*` request/reply into invocations.
//! - [`runtime`]: the service: starts and stops all of the above.
//! - [`spans`]: the OpenTelemetry spans of invocations, host calls and recoveries (export off: no-ops).
//! - [`metrics`]: Prometheus metrics (invocations, recoveries, shards, failover time) and `/metrics`.
//! - [`allocator`], [`dirs`]: giving memory back after suspension; workers' directories.

pub mod allocator;
pub mod arguments;
pub mod attempt;
pub mod balance;
pub mod bridge;
pub mod components;
pub mod config;
pub mod context;
pub mod control;
pub mod decide;
pub mod delete;
pub mod dirs;
pub mod drill;
pub mod durable;
pub mod engine;
pub mod exports;
pub mod inbox;
pub mod inspect;
pub mod live;
pub mod mailbox;
pub mod metrics;
pub mod promise_service;
pub mod replay;
pub mod reply;
pub mod runtime;
pub mod schedule;
pub mod shard;
pub mod shards;
pub mod spans;
pub mod status;
pub mod store;
pub mod subscriptions;
pub mod values;
pub mod worker;

pub use config::{ExecutorOptions, ResultsIndex};
pub use runtime::{Executor, run};

#[cfg(test)]
mod layering;
