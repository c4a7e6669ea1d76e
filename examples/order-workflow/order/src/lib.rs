//! `order` — the order workflow of `examples/order-workflow/README.md`: worker
//! `<order id>` of `order` calls worker `<order id>` of `payment`, then of
//! `warehouse`, then of `shipping`, each with a typed RPC client (the WIT in
//! `wit/deps/*-client.wit`, written by `revenant component client-wit <component>`).
//!
//! Each call is journaled before it leaves (`RpcStarted`) and its key derives from
//! this worker's journal, so however often this worker is replayed — its executor
//! killed between the payment and the dispatch, say — the payment is charged once
//! and the workflow goes on from where it was. While it waits for a callee longer
//! than the executor's `suspend-after`, this worker is suspended (no memory held).

wit_bindgen::generate!({
    path: "wit",
    world: "order",
    with: {
        "wasi:io/poll@0.2.12": wasip2::io::poll,
        "revenant:api/rpc@0.2.0": revenant_sdk::rpc::bindings,
    },
    generate_all,
});

use example::payment_client::api as payment;
use example::shipping_client::api as shipping;
use example::warehouse_client::api as warehouse;
use exports::example::order::api::Guest;
use revenant_sdk::rpc::RpcError;

struct Order;

/// `step failed: <why>`.
fn failed(step: &str, e: &RpcError) -> String {
    format!("{step} failed: {e:?}")
}

impl Guest for Order {
    fn place(amount: u64) -> String {
        let id = revenant_sdk::self_id().worker;
        let charge = match payment::Api::new(&id).charge(amount) {
            Ok(charge) => charge,
            Err(e) => return format!("order {id}: {}", failed("payment", &e)),
        };
        let dispatch = match warehouse::Api::new(&id).dispatch() {
            Ok(dispatch) => dispatch,
            Err(e) => return format!("order {id}: charged {charge}; {}", failed("dispatch", &e)),
        };
        let tracking = match shipping::Api::new(&id).ship() {
            Ok(tracking) => tracking,
            Err(e) => {
                return format!(
                    "order {id}: charged {charge}, dispatched {dispatch}; {}",
                    failed("shipment", &e)
                );
            }
        };
        format!("order {id}: charged {amount} as {charge}, dispatched {dispatch}, shipped {tracking}")
    }
}

export!(Order);
