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
//! list-activities, count}`; imports only WASI 0.2 (what std itself needs).

use std::sync::Mutex;

wit_bindgen::generate!({ path: "wit", world: "user-activities" });

use exports::example::user_activities::api::{Activity, ActivityFilter, Guest};

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

export!(UserActivities);
