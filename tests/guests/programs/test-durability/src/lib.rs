//! `test-durability` — a test guest for the host's `revenant:api/durability`
//! implementation, calling it only through `revenant-sdk` (so it also proves
//! the SDK builds for wasm32-wasip2). Replay tests compare its answers before
//! and after a recovery: `idempotency-keys` must return the same keys.
//!
//! Build (from `tests/guests/programs/`): `cargo build --target wasm32-wasip2 --release`,
//! producing `target/wasm32-wasip2/release/test_durability.wasm` (the
//! `revenant-guests` crate exposes the path as `TEST_DURABILITY`).
//!
//! Call e.g. `nats request rvn.call.test-durability.w1 -H 'Rvn-Function: whoami' '[]'`
//! (answers `"test-durability/w1"`). Prints nothing. Exports
//! `test:durability/api.{whoami, oplog-index, idempotency-keys, commit}`;
//! imports `revenant:api/durability@0.1.0` and WASI 0.2.

wit_bindgen::generate!({ path: "wit", world: "test-durability" });

use exports::test::durability::api::Guest;

struct TestDurability;

impl Guest for TestDurability {
    fn whoami() -> String {
        revenant_sdk::self_id().to_string()
    }

    fn oplog_index() -> u64 {
        revenant_sdk::oplog_index()
    }

    fn idempotency_keys(count: u32) -> Vec<String> {
        (0..count)
            .map(|_| revenant_sdk::generate_idempotency_key())
            .collect()
    }

    fn commit() -> u64 {
        revenant_sdk::commit();
        revenant_sdk::oplog_index()
    }
}

export!(TestDurability);
