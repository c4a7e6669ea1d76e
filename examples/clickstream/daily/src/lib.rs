//! `daily` — stage 2 of the clickstream pipeline (see `../README.md`): one worker per
//! day (`day-<YYYY-MM-DD>`, from the `Day` header stage 1 sets) adds up the sessions
//! that started that day. Each session arrives exactly once, so the totals equal an
//! offline computation over the clicks (`revenant example clickstream-check`).

use std::cell::RefCell;

wit_bindgen::generate!({ path: "wit", world: "daily" });

use exports::example::clickstream_daily::api::{DayTotals as Totals, Guest};

thread_local! {
    static TOTALS: RefCell<(u64, u64, u64)> = const { RefCell::new((0, 0, 0)) };
}

struct Daily;

impl Guest for Daily {
    fn add_session(_user: String, start: u64, end: u64, pages: u32) {
        TOTALS.with(|t| {
            let mut t = t.borrow_mut();
            t.0 += 1;
            t.1 += end.saturating_sub(start);
            t.2 += u64::from(pages);
        });
    }

    fn totals() -> Totals {
        TOTALS.with(|t| {
            let (sessions, duration_ms, pages) = *t.borrow();
            Totals { sessions, duration_ms, pages }
        })
    }
}

export!(Daily);
