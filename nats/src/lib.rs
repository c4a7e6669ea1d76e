//! Revenant's NATS layer, and the only crate that imports `async_nats`. It owns
//! every wire name of the NATS contract (streams, buckets, subjects, keys,
//! headers), provisions the streams and buckets idempotently, stores oplogs
//! with fenced appends and reads them back in order, and manages shard leases.
//! It does not run workers, route HTTP or interpret oplog entries; the IO-free
//! types (names, entries, records, the codec) live in [`revenant_types`], and
//! what a component binary contains is read by `revenant_components`.
//!
//! Layout:
//! - [`names`]: [`Namespace`] and every typed name constructor.
//! - [`headers`]: header name constants.
//! - [`error`]: [`Error`], [`AppendError`], [`LeaseError`], [`ControlError`].
//! - [`connect`]: credentials and TLS of every connection ([`connect::connect_options`]).
//! - [`client`]: [`Nats`], the connection bound to a namespace; [`client::shard_of`].
//! - [`provision`]: idempotent create-or-verify of every stream and bucket.
//! - [`oplog`]: [`OplogStore`], fenced append and ordered read.
//! - [`lease`]: [`LeaseManager`] and [`Lease`].
//! - [`control`]: interrupt / resume requests on `<ns>.control.<c>.<w>` (sending and serving them).
//! - [`inspect`]: time-travel requests on `<ns>.inspect.<c>.<w>` (sending and serving them).
//! - [`reply`]: the one reply parser ([`reply::parse_reply`]), reply inboxes ([`reply::Replies`]) and the one
//!   invoke-and-await ([`Nats::invoke_and_await`]), used by the CLI, router, call bridge, bench and tests.
//! - [`ingress`]: the ingress rules every invocation passes before anything acts on it.
//! - [`quarantine`]: finding, dead-lettering and deleting invocations the client cannot parse.
//! - [`seal`]: encryption at rest (AES-256-GCM envelopes with a key id) of oplog payloads, blobs and results.
//! - [`http_support`]: what the HTTP router needs: API definitions, result watches, readiness.
//! - [`registry`]: component versions (with [`registry::ComponentStore::upload`]), worker records, results, executors.
//! - [`schedules`]: scheduled invocations and cron: [`schedules::put`], [`schedules::cancel`], [`schedules::list`],
//!   the one holder publisher (timers use it too), the last-firing records (`RVN_SCHEDULES`).
//! - [`subscriptions`]: subscription definitions and status (`RVN_SUBSCRIPTIONS`), the source consumer a
//!   forwarder takes over, dead letters of source messages, guests' durable publishes.
//! - [`timers`]: durable timers as message-schedule holders ([`Nats::schedule_timer`]).
//! - [`promises`]: the promise store (`RVN_PROMISES`): create, complete (CAS, then the wake message), get, list;
//!   promise requests on `<ns>.promise.<c>.<w>.<index>`.
//! - [`snapshots`]: worker snapshots in `RVN_SNAPSHOTS` ([`snapshots::SnapshotStore`]).
//! - [`synthetic`]: synthetic worker histories (trimmed as snapshots leave them) for benchmarks and tests.
//! - [`workers`]: creating and deleting a worker ([`workers::create_worker`], [`workers::delete_worker`]).

pub mod bench_support;
pub mod client;
pub mod connect;
pub mod control;
pub mod deliveries;
pub mod drills;
pub mod error;
pub mod headers;
pub mod http_support;
pub mod ingress;
pub mod inspect;
pub mod invocations;
pub mod lease;
pub mod names;
mod objects;
pub mod oplog;
pub mod promises;
pub mod provision;
pub mod quarantine;
pub mod registry;
pub mod reply;
pub mod schedules;
pub mod seal;
pub mod snapshots;
pub mod subscriptions;
pub mod synthetic;
pub mod timers;
pub mod workers;

pub use async_nats;
pub use revenant_types;

pub use client::Nats;
pub use error::{AppendError, ControlError, DrillError, Error, LeaseError, Result};
pub use lease::{Lease, LeaseKey, LeaseLoss, LeaseManager};
pub use names::Namespace;
pub use oplog::{OplogRead, OplogStore, ReadStrategy};
pub use provision::ProvisionReport;
