//! `test-faults` — a test guest that fails on demand: a panic (trap), an
//! infinite loop (for deadlines / epoch interruption), memory growth (for
//! memory limits), a long busy loop on the clock (for interrupting a running
//! invocation), and a harmless `echo` to check the worker still answers.
//!
//! Build (from `tests/guests/programs/`): `cargo build --target wasm32-wasip2 --release`,
//! producing `target/wasm32-wasip2/release/test_faults.wasm` (the
//! `revenant-guests` crate exposes the path as `TEST_FAULTS`).
//!
//! Call e.g. `nats request rvn.call.test-faults.w1 -H 'Rvn-Function: trap' '["boom"]'`:
//! the invocation fails with a trap and stderr shows the panic message `boom`.
//! Exports `test:faults/api.{trap, spin, grow, echo, busy, blob, exit}`; imports only WASI 0.2.

use std::sync::Mutex;

wit_bindgen::generate!({ path: "wit", world: "test-faults" });

use exports::test::faults::api::Guest;
use wasip2::clocks::monotonic_clock;

const MIB: usize = 1 << 20;

/// Iterations `busy` spins between two clock readings.
const SPIN_PER_READING: u32 = 1_000_000;

/// Memory held by `grow`, so the linear memory stays grown across calls.
static HELD: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

struct TestFaults;

impl Guest for TestFaults {
    fn trap(message: String) {
        panic!("{message}");
    }

    fn spin() {
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }

    fn grow(mb: u32) -> u32 {
        let mut held = HELD.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for _ in 0..mb {
            // Non-zero fill, so every page is really written.
            held.push(vec![0xa5; MIB]);
        }
        u32::try_from(held.len()).unwrap_or(u32::MAX)
    }

    fn echo(s: String) -> String {
        s
    }

    fn exit(code: u32) {
        std::process::exit(code as i32)
    }

    fn blob(len: u32) -> Vec<u8> {
        (0..len).map(|i| i as u8).collect()
    }

    fn busy(ms: u64) -> u64 {
        let until = monotonic_clock::now().saturating_add(ms.saturating_mul(1_000_000));
        let mut readings: u64 = 0;
        loop {
            readings += 1;
            if monotonic_clock::now() >= until {
                return readings;
            }
            // About a millisecond of work between readings (no clock: every reading is
            // journaled), so the journal grows by hundreds of entries a second, not millions.
            let mut n: u64 = 0;
            for _ in 0..SPIN_PER_READING {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
    }
}

export!(TestFaults);
