//! Durable `wasi:clocks`: `wall-clock.now` and `monotonic-clock.now` are
//! journaled (replay returns the recorded time). The monotonic clock given to
//! wasmtime-wasi (used by `subscribe-instant` / `subscribe-duration`) is a
//! [`DurableMonotonic`] that never goes below a time the worker has already
//! seen, so monotonic time stays monotonic across recovery on another machine.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use wasmtime::StoreContextMut;
use wasmtime::component::Linker;
use wasmtime_wasi::HostMonotonicClock;
use wasmtime_wasi::p2::bindings::clocks::wall_clock::Datetime;

use super::HasJournal;
use super::journaled::{MonotonicClockNow, WallClockNow, WallTime};

/// wasmtime-wasi's own version of the interfaces (overrides must shadow these names).
pub const WALL_CLOCK: &str = "wasi:clocks/wall-clock@0.2.12";
pub const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// A monotonic clock in nanoseconds that can be moved forward to a time observed in replay.
#[derive(Clone, Debug)]
pub struct DurableMonotonic {
    base: Instant,
    offset: Arc<AtomicU64>,
}

impl Default for DurableMonotonic {
    fn default() -> Self {
        Self {
            base: Instant::now(),
            offset: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl DurableMonotonic {
    /// The current reading.
    pub fn now_ns(&self) -> u64 {
        self.offset.load(Ordering::Relaxed) + self.base.elapsed().as_nanos() as u64
    }

    /// Ensures later readings are at least `seen` (a recorded reading from replay).
    pub fn observe(&self, seen: u64) {
        let now = self.now_ns();
        if seen > now {
            self.offset.fetch_add(seen - now, Ordering::Relaxed);
        }
    }
}

impl HostMonotonicClock for DurableMonotonic {
    fn resolution(&self) -> u64 {
        1
    }
    fn now(&self) -> u64 {
        self.now_ns()
    }
}

/// Registers the journaled clock functions (shadowing wasmtime-wasi's).
pub fn add_to_linker<T: HasJournal>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    linker.instance(WALL_CLOCK)?.func_wrap(
        "now",
        |store: StoreContextMut<'_, T>, (): ()| -> wasmtime::Result<(Datetime,)> {
            let t = store.data().journal().read::<WallClockNow>((), || {
                let d = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                WallTime {
                    seconds: d.as_secs(),
                    nanoseconds: d.subsec_nanos(),
                }
            })?;
            Ok((Datetime {
                seconds: t.seconds,
                nanoseconds: t.nanoseconds,
            },))
        },
    )?;
    linker.instance(MONOTONIC_CLOCK)?.func_wrap(
        "now",
        |store: StoreContextMut<'_, T>, (): ()| -> wasmtime::Result<(u64,)> {
            let data = store.data();
            let clock = data.monotonic();
            let ns = data
                .journal()
                .read::<MonotonicClockNow>((), || clock.now_ns())?;
            clock.observe(ns);
            Ok((ns,))
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observed_time_moves_the_clock_forward_only() {
        let c = DurableMonotonic::default();
        let far = c.now_ns() + 10_000_000_000;
        c.observe(far);
        assert!(c.now_ns() >= far);
        c.observe(1);
        assert!(c.now_ns() >= far);
    }
}
