//! Revenant's IO-free vocabulary: validated names and ids, oplog entries and
//! their versioned codec, lease / invocation / result records and config
//! structs. Nothing here touches tokio or NATS, so the replay state machine and
//! everything that decodes the wire can be unit-tested on its own.
//!
//! Layout:
//! - [`names`]: component, worker and executor names (`[A-Za-z0-9_-]{1,128}`) and [`WorkerId`].
//! - [`oplog`]: the oplog entry enum, indexes, host-call payloads.
//! - [`error_kind`]: [`ErrorKind`], every error `kind` on a wire (replies, results, HTTP, dead letters).
//! - [`json`]: kebab-case JSON views of persisted values (oplog entries).
//! - [`codec`]: the versioned MessagePack envelope every internal record travels in.
//! - [`records`]: lease, worker, component, invocation-result and dead-letter records.
//! - [`promise`]: [`PromiseId`] (`<component>/<worker>/<index>`), the promise record and its decisions.
//! - [`inspect`]: time travel: the request for a worker's state as of an oplog index and its answer.
//! - [`snapshot`]: what a snapshot carries besides the guest's bytes, and the snapshot policy.
//! - [`schedule`]: scheduled invocations and cron: specs, input parsing, the last-firing record.
//! - [`subscription`]: subscriptions of streams into workers: specs, worker templates, keys, status.
//! - [`host`]: the names of journaled host functions (a persistent format).
//! - [`trace`]: W3C trace context, deterministic invocation span ids, emitting a finished span.
//! - [`config`]: the NATS-facing options shared by executor, router and CLI.
//! - [`metrics`]: the Prometheus registry behind the executor's and the router's `/metrics`.

pub mod codec;
pub mod config;
pub mod error_kind;
pub mod host;
pub mod inspect;
pub mod json;
pub mod metrics;
pub mod names;
pub mod oplog;
pub mod promise;
pub mod records;
pub mod schedule;
pub mod snapshot;
pub mod subscription;
pub mod trace;

pub use error_kind::ErrorKind;
pub use names::{ComponentName, ExecutorId, NameError, WorkerId, WorkerName};
pub use oplog::{OplogEntry, OplogIndex, now_ms};
pub use promise::{PromiseId, PromiseRecord, PromiseState};
