//! The guest components of `examples/`, built for wasm32-wasip2 by this
//! crate's build script and exposed to tests as file paths (as wasmtime's
//! `test-programs`). It owns the build step only; what each guest does is in
//! its own crate under `examples/`, and running them is the executor's job.
//!
//! The build script runs `cargo build --release --target wasm32-wasip2` on the
//! `examples/` workspace (target dir `examples/target`) and fails with cargo's
//! stderr if that does; `scripts/bootstrap` installs the target. It reruns
//! when an example, `wit/` or the SDK changes — not when `examples/target` is
//! deleted: then `cargo clean -p revenant-guests` forces a rebuild.
//!
//! Layout:
//! - [`COUNTER`], [`SHOPPING_CART`], [`USER_ACTIVITIES`], [`JSON_SUM`] — the
//!   user-facing examples, also listed by [`all`] with their component names.
//! - [`TEST_HTTP`], [`TEST_FAULTS`], [`TEST_TYPES`], [`TEST_DURABILITY`] — test
//!   guests (outgoing HTTP; traps, loops, memory; every WIT type; `revenant:api`).

include!(concat!(env!("OUT_DIR"), "/guests.rs"));
