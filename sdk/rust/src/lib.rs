//! The Rust guest SDK for Revenant: bindings to the `revenant:api` WIT package
//! (in the repository's `wit/` directory) and thin, documented wrappers over
//! them. It owns nothing but the guest's view of the host API; the host side
//! lives in the executor, and a guest's own exports are generated in the guest
//! crate with `wit_bindgen::generate!` + `export!`.
//!
//! A guest imports `revenant:api/durability` only if it calls one of these
//! functions: depending on the SDK alone adds no import, so the component
//! still runs on any WASI 0.2 host.
//!
//! The crate also compiles for the host (so the main workspace can check and
//! document it), where the generated imports are stubs: calling any function
//! here outside a wasm32 component panics.
//!
//! Layout:
//! - [`bindings`] — the raw `wit-bindgen` output for `revenant:api/guest`.
//! - [`self_id`], [`oplog_index`], [`generate_idempotency_key`], [`commit`] —
//!   wrappers over `revenant:api/durability`.

use std::fmt;

/// Raw bindings generated from `wit/revenant-api.wit` (world `revenant:api/guest`).
#[allow(unsafe_code, clippy::all, missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "revenant:api/guest@0.1.0",
    });
}

use bindings::revenant::api::durability;

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
