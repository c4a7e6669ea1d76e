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

use std::time::Duration;

use wasip2::clocks::wall_clock;

wit_bindgen::generate!({ path: "wit", world: "reminder" });

use exports::example::reminder::api::Guest;

struct Reminder;

impl Guest for Reminder {
    fn remind_in(seconds: u64, text: String) -> String {
        revenant_sdk::sleep(Duration::from_secs(seconds));
        let now = wall_clock::now();
        let ms = now.seconds * 1_000 + u64::from(now.nanoseconds) / 1_000_000;
        format!("{text} (woke at {ms})")
    }
}

export!(Reminder);
