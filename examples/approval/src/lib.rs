//! `approval` — a request that waits for a person, with a durable promise.
//!
//! `request(item)` creates a promise, prints its id, logs (`wasi:logging`) that it
//! waits, and waits for it. While it
//! waits longer than the executor's `suspend-after` (10 s by default) the worker
//! is suspended: its instance is dropped, nothing is held in memory or in a
//! consumer, and it survives any executor dying. Whoever approves completes the
//! promise — from the CLI, HTTP, any NATS client or another worker — and the
//! worker resumes by replay on whichever executor owns it then, returning
//! `<item>: <payload>`.
//!
//! ```text
//! revenant invoke approval/order-7 request '"new laptop"' &   # waits
//! revenant worker events approval/order-7                    # approval needed: approval/order-7/3
//! revenant promise list approval/order-7                      # the pending promise
//! revenant promise complete approval/order-7/3 '"approved by Ada"'
//! # => the invocation returns "new laptop: \"approved by Ada\""
//! ```
//!
//! Or over HTTP: `POST /v1/promises/approval/order-7/3/complete` with the JSON
//! payload as the body; or from `nats-py`: `await nc.request("rvn.promise.approval.order-7.3", b'"yes"')`.

wit_bindgen::generate!({ path: "wit", world: "approval" });

use exports::example::approval::api::Guest;
use revenant_sdk::Promise;

struct Approval;

impl Guest for Approval {
    fn request(item: String) -> String {
        let promise = Promise::new();
        println!("approval needed: {}", promise.id());
        revenant_sdk::log::info("approval", &format!("waiting for approval of {item}"));
        let payload = promise
            .wait()
            .expect("the promise was created by this worker");
        let payload = String::from_utf8_lossy(&payload);
        revenant_sdk::log::info("approval", &format!("{item} decided: {payload}"));
        format!("{item}: {payload}")
    }
}

export!(Approval);
