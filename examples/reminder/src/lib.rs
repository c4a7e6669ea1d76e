//! `reminder` — a durable sleep.
//!
//! `remind-in(seconds, text)` sleeps with a plain `wasi:clocks` timer. Revenant
//! journals when it fires; a sleep longer than the executor's `suspend-after`
//! (10 s by default) suspends the worker and becomes a JetStream message schedule
//! (`rvn.schedule.reminder.<worker>.t-<index>`), so no executor keeps it in memory.
//! It survives kill -9 of its executor and a nats-server restart, and fires once,
//! on time; then the worker resumes by replay and returns `<text> (woke at <t>)`.
//!
//! ```text
//! revenant invoke reminder/r1 remind-in 30 '"water the plants"'
//! # 30 s later => "water the plants (woke at 1764500000123)"
//! ```
//!
//! `sleep-ms(ms)` sleeps the same way for `ms` milliseconds and returns when it
//! started and woke (`{"started": …, "woke": …}`, journaled wall-clock ms), so a
//! caller can measure how late the timer fired: `revenant bench --only waiting`
//! uses it.
//!
//! ```text
//! revenant invoke reminder/r2 sleep-ms 2000
//! # => {started: 1764500000000, woke: 1764500002011}
//! ```

use std::time::Duration;

use wasip2::clocks::wall_clock;

wit_bindgen::generate!({ path: "wit", world: "reminder" });

use exports::example::reminder::api::{Guest, Slept};

struct Reminder;

impl Guest for Reminder {
    fn remind_in(seconds: u64, text: String) -> String {
        revenant_sdk::sleep(Duration::from_secs(seconds));
        format!("{text} (woke at {})", wall_ms())
    }

    fn sleep_ms(ms: u64) -> Slept {
        let started = wall_ms();
        revenant_sdk::sleep(Duration::from_millis(ms));
        Slept {
            started,
            woke: wall_ms(),
        }
    }
}

/// The wall clock (journaled by the host) in ms since the Unix epoch.
fn wall_ms() -> u64 {
    let now = wall_clock::now();
    now.seconds * 1_000 + u64::from(now.nanoseconds) / 1_000_000
}

export!(Reminder);
