//! `user-activities` — one worker per user (the worker name is the user id),
//! keeping the user's activity history in memory and answering filtered
//! queries over it.
//!
//! Build (from `examples/`): `cargo build --target wasm32-wasip2 --release`,
//! producing `target/wasm32-wasip2/release/user_activities.wasm`.
//!
//! Deploy and call (CLI, or plain NATS request/reply with a JSON argument array):
//!
//! ```text
//! revenant component add user-activities target/wasm32-wasip2/release/user_activities.wasm
//! nats request rvn.call.user-activities.alice -H 'Rvn-Function: add-activity' \
//!   '[{"kind": "login", "description": "web", "timestamp": 1700000000}]'
//! nats request rvn.call.user-activities.alice -H 'Rvn-Function: list-activities' \
//!   '[{"kind": "login", "since": null, "limit": 10}]'   # => the logins, oldest first
//! nats request rvn.call.user-activities.alice -H 'Rvn-Function: count' '[]'   # => 1
//! ```
//!
//! Prints nothing. Exports `example:user-activities/api.{add-activity,
//! list-activities, count}` and `revenant:api/snapshot.{save, load}` (the history in
//! a length-prefixed binary form, so a user's years of history recover from a
//! snapshot plus the last invocations); imports only WASI 0.2 (what std itself needs).

use std::sync::Mutex;

// The repository's `wit/` first: the world exports its `revenant:api/snapshot`.
wit_bindgen::generate!({
    path: ["../../wit", "wit"],
    world: "example:user-activities/user-activities",
});

use exports::example::user_activities::api::{Activity, ActivityFilter, Guest};
use exports::revenant::api::snapshot::Guest as Snapshot;

static HISTORY: Mutex<Vec<Activity>> = Mutex::new(Vec::new());

fn with_history<T>(f: impl FnOnce(&mut Vec<Activity>) -> T) -> T {
    // A panic inside `f` traps the whole instance, so a poisoned lock is never observed.
    f(&mut HISTORY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner()))
}

fn matches(filter: &ActivityFilter, activity: &Activity) -> bool {
    filter
        .kind
        .as_ref()
        .is_none_or(|kind| *kind == activity.kind)
        && filter.since.is_none_or(|since| activity.timestamp >= since)
}

struct UserActivities;

impl Guest for UserActivities {
    fn add_activity(activity: Activity) {
        with_history(|history| history.push(activity));
    }

    fn list_activities(filter: ActivityFilter) -> Vec<Activity> {
        with_history(|history| {
            let mut found: Vec<Activity> = history
                .iter()
                .filter(|a| matches(&filter, a))
                .cloned()
                .collect();
            if let Some(limit) = filter.limit {
                let keep = found.len().min(limit as usize);
                found.drain(..found.len() - keep);
            }
            found
        })
    }

    fn count() -> u64 {
        with_history(|history| history.len() as u64)
    }
}

/// The history as a count, then per activity its kind and description (each a
/// little-endian u32 length and UTF-8 bytes) and its timestamp (little-endian u64).
impl Snapshot for UserActivities {
    fn save() -> Vec<u8> {
        with_history(|history| {
            let mut out = Vec::new();
            out.extend((history.len() as u32).to_le_bytes());
            for a in history.iter() {
                for text in [&a.kind, &a.description] {
                    out.extend((text.len() as u32).to_le_bytes());
                    out.extend(text.as_bytes());
                }
                out.extend(a.timestamp.to_le_bytes());
            }
            out
        })
    }

    fn load(data: Vec<u8>) -> Result<(), String> {
        let mut reader = Reader(&data);
        let count = reader.u32()?;
        let mut loaded = Vec::new();
        for _ in 0..count {
            let kind = reader.text()?;
            let description = reader.text()?;
            let timestamp = u64::from_le_bytes(reader.bytes(8)?.try_into().expect("8 bytes"));
            loaded.push(Activity {
                kind,
                description,
                timestamp,
            });
        }
        if !reader.0.is_empty() {
            return Err(format!(
                "{} bytes left after {count} activities",
                reader.0.len()
            ));
        }
        with_history(|history| *history = loaded);
        Ok(())
    }
}

/// Reads what `save` wrote, saying what was expected when it does not fit.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn bytes(&mut self, n: usize) -> Result<&[u8], String> {
        if self.0.len() < n {
            return Err(format!("expected {n} more bytes, found {}", self.0.len()));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(
            self.bytes(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn text(&mut self) -> Result<String, String> {
        let n = self.u32()? as usize;
        String::from_utf8(self.bytes(n)?.to_vec()).map_err(|e| format!("expected UTF-8: {e}"))
    }
}

export!(UserActivities);
