//! What Revenant knows about a component binary without compiling it — no
//! wasmtime, no Cranelift, no IO — so that the router and the CLI can upload
//! components and check invocations and API routes without linking the
//! executor. It validates a binary (refusing non-components with a clear
//! message), decodes its WIT once, checks its imports against what executors
//! provide, lists its exports with WIT signatures and parameter shapes (stored
//! in the component's record at upload), hashes it, and resolves a requested
//! function name. It does not store anything (the registry in
//! `revenant-nats` does) and does not load or run components (the executor
//! does, splitting names with the same [`split_name`]).
//!
//! Layout:
//! - [`inspect`](mod@inspect): [`inspect()`] a binary into an [`Inspection`] (hash, size, exports), [`InspectError`].
//! - [`imports`]: the import allow-list, [`provided_import`]; typed RPC client imports, [`client_import`].
//! - [`client_wit`](mod@client_wit): the WIT of a typed RPC client for a component, [`client_wit()`].
//! - [`names`]: [`split_name`], [`resolve_function`], [`ResolveError`].
//! - `wit`: the one WIT decode; signatures and parameter shapes of exports.
//! - [`fixtures`] (feature `fixtures`): test components built from WIT text.

pub mod client_wit;
pub mod imports;
pub mod inspect;
pub mod names;
mod wit;

#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;

pub use client_wit::client_wit;
pub use imports::{ClientImport, client_import, provided_import};
pub use inspect::{FEATURES, InspectError, Inspection, content_hash, inspect};
pub use names::{ResolveError, resolve_function, split_name};
pub use revenant_types::records::{ExportedFunction, WitShape};
