//! `sessionize` — stage 1 of the clickstream pipeline (see `../README.md`): one
//! worker per user gets that user's clicks through the standard subscriber export,
//! groups them into sessions (a gap of more than [`GAP_MS`] ends one) and publishes
//! each finished session durably to `sessions.<user>` (with header `Day`), where
//! stage 2 (`daily`) subscribes. The publish is journaled and deduplicated by the
//! SESSIONS stream, so a replay never publishes a session twice.
//!
//! It also counts what it applied ([`stats`]): a message whose stream sequence is
//! not above the last one applied is a violation of exactly-once, in-order delivery.

use std::cell::RefCell;

wit_bindgen::generate!({ path: "wit", world: "sessionize", generate_all });

use exports::example::clickstream::sessions::{self, WorkerStats as Stats};
use exports::revenant::api::subscriber::{self, Message};
use revenant::api::messaging;

/// A gap longer than this between two clicks ends a session.
pub const GAP_MS: u64 = 30 * 60 * 1000;

#[derive(Clone, Copy)]
struct Session {
    start: u64,
    last: u64,
    pages: u32,
}

#[derive(Default)]
struct State {
    session: Option<Session>,
    stats: Stats,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            applied: 0,
            violations: 0,
            last_sequence: 0,
            published: 0,
        }
    }
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

/// `YYYY-MM-DD` (UTC) of `ms` since the epoch (the civil-from-days algorithm).
fn day(ms: u64) -> String {
    let days = (ms / 86_400_000) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn publish(user: &str, s: Session) -> Result<(), String> {
    let body = serde_json::json!({
        "user": user,
        "start": s.start,
        "end": s.last,
        "pages": s.pages,
    });
    messaging::publish(
        &format!("sessions.{user}"),
        &[("Day".to_owned(), day(s.start))],
        body.to_string().as_bytes(),
    )
    .map(|_| ())
    .map_err(|e| format!("publishing the session: {e:?}"))
}

struct Sessionize;

impl subscriber::Guest for Sessionize {
    fn handle(message: Message) -> Result<(), String> {
        let click: serde_json::Value = serde_json::from_slice(&message.payload)
            .map_err(|e| format!("not a click ({e}); expected {{\"page\": \"/home\", \"ts\": <ms>}}"))?;
        let ts = click["ts"]
            .as_u64()
            .ok_or_else(|| format!("the click {click} has no \"ts\" in ms since the epoch"))?;
        let user = message.subject.rsplit('.').next().unwrap_or_default().to_owned();
        STATE.with(|state| {
            let mut state = state.borrow_mut();
            if message.sequence <= state.stats.last_sequence {
                state.stats.violations += 1;
                return Ok(());
            }
            state.stats.last_sequence = message.sequence;
            state.stats.applied += 1;
            match state.session {
                Some(s) if ts > s.last + GAP_MS => {
                    publish(&user, s)?;
                    state.stats.published += 1;
                    state.session = Some(Session { start: ts, last: ts, pages: 1 });
                }
                Some(s) => {
                    state.session = Some(Session { last: s.last.max(ts), pages: s.pages + 1, ..s });
                }
                None => state.session = Some(Session { start: ts, last: ts, pages: 1 }),
            }
            Ok(())
        })
    }
}

impl sessions::Guest for Sessionize {
    fn stats() -> Stats {
        STATE.with(|s| {
            let s = s.borrow();
            Stats { ..s.stats }
        })
    }
}

export!(Sessionize);
