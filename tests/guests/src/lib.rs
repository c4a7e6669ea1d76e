//! The guest components the tests run, as file paths (as wasmtime's
//! `test-programs`): the test guests of `tests/guests/programs/`, built for
//! wasm32-wasip2 by this crate's build script, and the user-facing examples,
//! re-exported from `revenant-examples` (which builds `examples/`). It owns the
//! build step of the test guests only; what each guest does is in its own crate,
//! and running them is the executor's job. Only tests depend on this crate: the
//! `revenant` binary gets the examples from `revenant-examples` alone.
//!
//! The build script runs `cargo build --release --target wasm32-wasip2` on the
//! `tests/guests/programs/` workspace (target dir `examples/target`, shared with
//! the examples) and fails with cargo's stderr if that does; `scripts/bootstrap`
//! installs the target. It reruns when a test guest, `wit/` or the SDK changes —
//! not when `examples/target` is deleted: then `cargo clean -p revenant-guests
//! -p revenant-examples` forces a rebuild.
//!
//! Layout:
//! - [`COUNTER`], [`SHOPPING_CART`], [`USER_ACTIVITIES`], [`JSON_SUM`], [`APPROVAL`],
//!   [`REMINDER`], the order workflow's [`ORDER`], [`PAYMENT`], [`WAREHOUSE`],
//!   [`SHIPPING`], [`FAN_OUT`] with [`SQUARE`], and the clickstream pipeline's
//!   [`SESSIONIZE`] and [`DAILY`] — the user-facing examples, also
//!   listed by [`all`] with their component names.
//! - [`TEST_HTTP`], [`TEST_FAULTS`], [`TEST_TYPES`], [`TEST_DURABILITY`] — test
//!   guests (outgoing HTTP; traps, loops, memory; every WIT type; `revenant:api`).

pub use revenant_examples::{
    APPROVAL, COUNTER, DAILY, FAN_OUT, JSON_SUM, ORDER, PAYMENT, REMINDER, SESSIONIZE, SHIPPING,
    SHOPPING_CART, SQUARE, USER_ACTIVITIES, WAREHOUSE, all,
};

include!(concat!(env!("OUT_DIR"), "/guests.rs"));
