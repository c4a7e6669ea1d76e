//! `warehouse` — a step of the order workflow (see `examples/order-workflow/README.md`).
//! `order` calls worker `<order id>` of this component with a typed RPC client; the
//! call's idempotency key derives from the caller's journal, so the effect is applied
//! once per order even when the executor of either side is killed mid-call.

use std::sync::atomic::{AtomicU64, Ordering};

wit_bindgen::generate!({ path: "wit", world: "warehouse" });

use exports::example::warehouse::api::Guest;

/// How many times this worker applied its effect.
static APPLIED: AtomicU64 = AtomicU64::new(0);

struct Step;

impl Guest for Step {
    fn dispatch() -> String {
        let n = APPLIED.fetch_add(1, Ordering::Relaxed) + 1;
        let id = format!("dsp-{}", revenant_sdk::generate_idempotency_key());
        println!("dispatched {id} (dispatch {n} of this worker)");
        id
    }

    fn count() -> u64 {
        APPLIED.load(Ordering::Relaxed)
    }
}

export!(Step);
