//! The user-facing example guests of `examples/` (counter, shopping-cart,
//! user-activities, json-sum, approval, reminder), built for wasm32-wasip2 by this crate's build
//! script and exposed as file paths: `revenant up` deploys them, `revenant
//! bench` runs the counter. It owns the build step only; what each example does
//! is in its own crate under `examples/`. The test guests are not here: they are
//! `revenant-guests` (tests/guests), which re-exports these paths for tests, so
//! building the `revenant` binary never builds a test guest.
//!
//! The build script runs `cargo build --release --target wasm32-wasip2` on the
//! `examples/` workspace (target dir `examples/target`) and fails with cargo's
//! stderr if that does; `scripts/bootstrap` installs the target. It reruns
//! when an example, `wit/` or the SDK changes — not when `examples/target` is
//! deleted: then `cargo clean -p revenant-examples` forces a rebuild.
//!
//! The Python and TypeScript examples (`examples/python/*`, `examples/ts/*`) are
//! built by `lang_build.rs` with the pinned tools `scripts/bootstrap` installs
//! into `.tools/` (componentize-py; esbuild + componentize-js), each cached by the
//! hash of its inputs under `examples/target/guest-langs/`.
//!
//! Layout:
//! - [`clickstream`] — the clickstream example's click generator and offline totals.
//! - [`COUNTER`], [`SHOPPING_CART`], [`USER_ACTIVITIES`], [`JSON_SUM`], [`APPROVAL`], [`REMINDER`] — each
//!   example's `.wasm`, also listed by [`all`] with their component names.
//! - [`PY_COUNTER`], [`TS_COUNTER`], [`PY_APPROVAL`], [`TS_APPROVAL`], [`PY_CALLER`],
//!   [`TS_CALLER`] — the Python and TypeScript examples, listed by [`languages`].

pub mod clickstream;

include!(concat!(env!("OUT_DIR"), "/examples.rs"));
