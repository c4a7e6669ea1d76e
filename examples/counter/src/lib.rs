//! `counter` — the smallest durable worker: a `u64` total in memory, plus a
//! random increment and clock reads that exercise the journaled WASI calls.
//!
//! Build (from `examples/`): `cargo build --target wasm32-wasip2 --release`,
//! producing `target/wasm32-wasip2/release/counter.wasm`.
//!
//! Deploy and call (CLI, or plain NATS request/reply with a JSON argument array):
//!
//! ```text
//! revenant component add counter target/wasm32-wasip2/release/counter.wasm
//! revenant invoke counter/c1 add 5          # => 5
//! revenant invoke counter/c1 add 3          # => 8
//! revenant invoke counter/c1 add-random     # => 8 + a random u64, prints "total: <n>"
//! nats request rvn.call.counter.c1 -H 'Rvn-Function: get' '[]'   # => the total
//! ```
//!
//! `add-random` prints `total: <n>` to the worker's stdout (seen in
//! `rvn.events.counter.c1`); nothing else prints. Exports
//! `example:counter/api.{add, add-random, get, read-clock, now}` and
//! `revenant:api/snapshot.{save, load}` (the total as 8 little-endian bytes: add it
//! with `--snapshot-every 1000` and recovery loads the total, then replays at most the
//! last 2,000 invocations); imports only
//! WASI 0.2 (`wasi:random/random`, `wasi:clocks/*`, and what std's stdout needs).

use std::sync::atomic::{AtomicU64, Ordering};

use wasip2::clocks::{monotonic_clock, wall_clock};

// The repository's `wit/` first: the world exports its `revenant:api/snapshot`.
wit_bindgen::generate!({ path: ["../../wit", "wit"], world: "example:counter/counter" });

use exports::example::counter::api::Guest;
use exports::revenant::api::snapshot::Guest as Snapshot;

/// The running total. A component instance is single-threaded; the atomic
/// just makes a mutable static safe to write.
static TOTAL: AtomicU64 = AtomicU64::new(0);

struct Counter;

impl Counter {
    fn add_to_total(value: u64) -> u64 {
        let total = TOTAL.load(Ordering::Relaxed).wrapping_add(value);
        TOTAL.store(total, Ordering::Relaxed);
        total
    }
}

impl Guest for Counter {
    fn add(value: u64) -> u64 {
        Self::add_to_total(value)
    }

    fn add_random() -> u64 {
        let total = Self::add_to_total(wasip2::random::random::get_random_u64());
        println!("total: {total}");
        total
    }

    fn get() -> u64 {
        TOTAL.load(Ordering::Relaxed)
    }

    fn read_clock(times: u32) -> u64 {
        (0..times).fold(0, |_, _| monotonic_clock::now())
    }

    fn now() -> u64 {
        wall_clock::now().seconds
    }
}

/// The total as 8 little-endian bytes.
impl Snapshot for Counter {
    fn save() -> Vec<u8> {
        TOTAL.load(Ordering::Relaxed).to_le_bytes().to_vec()
    }

    fn load(data: Vec<u8>) -> Result<(), String> {
        let bytes: [u8; 8] = data
            .as_slice()
            .try_into()
            .map_err(|_| format!("expected 8 bytes (a u64 total), got {}", data.len()))?;
        TOTAL.store(u64::from_le_bytes(bytes), Ordering::Relaxed);
        Ok(())
    }
}

export!(Counter);
