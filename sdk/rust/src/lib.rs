//! The Rust guest SDK for Revenant: bindings to the `revenant:api` WIT package
//! (in the repository's `wit/` directory) and thin, documented wrappers over
//! them. It owns nothing but the guest's view of the host API; the host side
//! lives in the executor, and a guest's own exports are generated in the guest
//! crate with `wit_bindgen::generate!` + `export!`.
//!
//! A guest imports `revenant:api/durability` or `revenant:api/promises` only if
//! it calls one of these functions: depending on the SDK alone adds no import,
//! so the component still runs on any WASI 0.2 host.
//!
//! The crate also compiles for the host (so the main workspace can check and
//! document it), where the generated imports are stubs: calling any function
//! here outside a wasm32 component panics.
//!
//! Layout:
//! - [`bindings`] — the raw `wit-bindgen` output for `revenant:api/guest`.
//! - [`self_id`], [`oplog_index`], [`generate_idempotency_key`], [`commit`] —
//!   wrappers over `revenant:api/durability`.
//! - [`Promise`], [`complete_promise`] — `revenant:api/promises`.
//! - [`sleep`] — a durable sleep (a `wasi:clocks` timer, which Revenant journals
//!   and, when long, turns into a JetStream schedule while the worker is suspended).

use std::fmt;

/// Raw bindings generated from `wit/revenant-api.wit` (world `revenant:api/guest`).
#[allow(unsafe_code, clippy::all, missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "revenant:api/guest@0.2.0",
        with: {
            "wasi:io/poll@0.2.12": wasip2::io::poll,
        },
    });
}

use bindings::revenant::api::{durability, promises};

/// A worker's identity: the component it runs and its own name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WorkerId {
    /// The component name, e.g. `shopping-cart`.
    pub component: String,
    /// The worker name, e.g. `alice`.
    pub worker: String,
}

impl fmt::Display for WorkerId {
    /// Formats as `<component>/<worker>`, the form the CLI and the docs use.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.component, self.worker)
    }
}

/// This worker's identity (constant for its lifetime).
pub fn self_id() -> WorkerId {
    let (component, worker) = durability::self_id();
    WorkerId { component, worker }
}

/// The index of the last entry in this worker's oplog; replays observe the
/// same values as the original run.
pub fn oplog_index() -> u64 {
    durability::oplog_index()
}

/// A fresh idempotency key (UUID text) for an external call. The n-th call in
/// a worker's history returns the same key on every replay, so a retried side
/// effect carries the same key and the remote system can deduplicate it.
pub fn generate_idempotency_key() -> String {
    durability::generate_idempotency_key()
}

/// Blocks until everything journaled so far is durably stored (acknowledged
/// by JetStream with the configured replicas).
pub fn commit() {
    durability::commit();
}

/// A promise of this worker: a value someone else supplies later (a person's
/// approval, a webhook, another worker). Hand its [`Promise::id`] to whoever
/// completes it; [`Promise::wait`] suspends the worker meanwhile (after the
/// executor's `suspend-after`), costing no memory, and resumes it by replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promise {
    id: String,
}

impl Promise {
    /// Creates a promise; it is durable and completable when this returns.
    pub fn new() -> Self {
        Self {
            id: promises::create(),
        }
    }

    /// A promise of this worker by its id (e.g. one created by an earlier invocation).
    pub fn from_id(id: impl Into<String>) -> Self {
        Self { id: id.into() }
    }

    /// `<component>/<worker>/<oplog index>`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Waits until it is completed and returns the payload. Errors when it is not a
    /// promise this worker created.
    pub fn wait(&self) -> Result<Vec<u8>, String> {
        promises::await_(&self.id)
    }

    /// The payload if it is completed by now, without waiting.
    pub fn poll(&self) -> Result<Option<Vec<u8>>, String> {
        promises::poll(&self.id)
    }

    /// A pollable ready once it is completed, to wait for it together with a timer
    /// (`wasip2::io::poll::poll(&[&promise, &timer])`).
    pub fn subscribe(&self) -> Result<wasip2::io::poll::Pollable, String> {
        promises::subscribe(&self.id)
    }
}

impl Default for Promise {
    fn default() -> Self {
        Self::new()
    }
}

/// Completes any worker's promise: `Ok(true)` when this call completed it,
/// `Ok(false)` when it was completed already (the first completion wins).
pub fn complete_promise(id: &str, payload: &[u8]) -> Result<bool, String> {
    promises::complete(id, payload)
}

/// Sleeps durably: the wake-up time is journaled, survives the executor, and a
/// long sleep suspends the worker (no memory held) until a JetStream schedule
/// wakes it.
pub fn sleep(duration: std::time::Duration) {
    let ns = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
    wasip2::clocks::monotonic_clock::subscribe_duration(ns).block();
}
