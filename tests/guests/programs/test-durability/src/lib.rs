//! `test-durability` — a test guest for the host's `revenant:api/durability`
//! implementation, calling it only through `revenant-sdk` (so it also proves
//! the SDK builds for wasm32-wasip2). Replay tests compare its answers before
//! and after a recovery: `idempotency-keys` must return the same keys.
//!
//! Build (from `tests/guests/programs/`): `cargo build --target wasm32-wasip2 --release`,
//! producing `target/wasm32-wasip2/release/test_durability.wasm` (the
//! `revenant-guests` crate exposes the path as `TEST_DURABILITY`).
//!
//! Call e.g. `nats request rvn.call.test-durability.w1 -H 'Rvn-Function: whoami' '[]'`
//! (answers `"test-durability/w1"`). Prints nothing. Exports
//! `test:durability/api.{whoami, oplog-index, idempotency-keys, commit}` and
//! `test:durability/waiting` (durable sleep, promises, a promise raced against a
//! timer); imports `revenant:api/{durability,promises}@0.2.0` and WASI 0.2.

wit_bindgen::generate!({ path: "wit", world: "test-durability" });

use std::time::Duration;

use exports::test::durability::api::Guest;
use exports::test::durability::waiting::Guest as Waiting;
use revenant_sdk::Promise;

struct TestDurability;

impl Guest for TestDurability {
    fn whoami() -> String {
        revenant_sdk::self_id().to_string()
    }

    fn oplog_index() -> u64 {
        revenant_sdk::oplog_index()
    }

    fn idempotency_keys(count: u32) -> Vec<String> {
        (0..count)
            .map(|_| revenant_sdk::generate_idempotency_key())
            .collect()
    }

    fn commit() -> u64 {
        revenant_sdk::commit();
        revenant_sdk::oplog_index()
    }
}

impl Waiting for TestDurability {
    fn sleep(ms: u64) -> u64 {
        revenant_sdk::sleep(Duration::from_millis(ms));
        let now = wasip2::clocks::wall_clock::now();
        now.seconds * 1_000 + u64::from(now.nanoseconds) / 1_000_000
    }

    fn create_promise() -> String {
        Promise::new().id().to_owned()
    }

    fn create_and_await() -> String {
        let promise = Promise::new();
        println!("promise: {}", promise.id());
        let payload = promise.wait().expect("a promise of this worker");
        String::from_utf8_lossy(&payload).into_owned()
    }

    fn await_promise(id: String) -> Result<String, String> {
        Promise::from_id(id)
            .wait()
            .map(|p| String::from_utf8_lossy(&p).into_owned())
    }

    fn race(id: String, ms: u64) -> String {
        let promise = Promise::from_id(id);
        let ready = promise.subscribe().expect("a promise of this worker");
        let timer = wasip2::clocks::monotonic_clock::subscribe_duration(ms * 1_000_000);
        let first = wasip2::io::poll::poll(&[&ready, &timer]);
        if first.contains(&0) {
            let payload = promise.poll().ok().flatten().unwrap_or_default();
            format!("promise: {}", String::from_utf8_lossy(&payload))
        } else {
            "timer".to_owned()
        }
    }

    fn complete(id: String, payload: String) -> Result<bool, String> {
        revenant_sdk::complete_promise(&id, payload.as_bytes())
    }
}

export!(TestDurability);

/// `<case>: <message>` of an rpc-error.
fn rpc_error(e: revenant_sdk::rpc::RpcError) -> String {
    use revenant_sdk::rpc::RpcError as E;
    match e {
        E::NotFound(m) => format!("not-found: {m}"),
        E::Denied(m) => format!("denied: {m}"),
        E::RemoteError(m) => format!("remote-error: {m}"),
        E::WorkerFailed(m) => format!("worker-failed: {m}"),
        E::Cycle(m) => format!("cycle: {m}"),
        E::Protocol(m) => format!("protocol: {m}"),
    }
}

impl exports::test::durability::calls::Guest for TestDurability {
    fn call(component: String, worker: String, function: String, args: String) -> Result<String, String> {
        revenant_sdk::rpc::call(&component, &worker, &function, &args).map_err(rpc_error)
    }

    fn send(component: String, worker: String, function: String, args: String) -> Result<String, String> {
        revenant_sdk::rpc::send(&component, &worker, &function, &args).map_err(rpc_error)
    }

    fn schedule(
        at_epoch_ms: u64,
        component: String,
        worker: String,
        function: String,
        args: String,
    ) -> Result<String, String> {
        revenant_sdk::rpc::schedule(at_epoch_ms, &component, &worker, &function, &args)
            .map_err(rpc_error)
    }

    fn cancel_schedule(component: String, worker: String, id: String) -> Result<bool, String> {
        revenant_sdk::rpc::cancel_schedule(&component, &worker, &id).map_err(rpc_error)
    }

    fn call_all(component: String, prefix: String, n: u32, function: String) -> Vec<String> {
        let futures: Vec<_> = (0..n)
            .map(|i| {
                revenant_sdk::rpc::call_async(&component, &format!("{prefix}-{i}"), &function, &format!("[{i}]"))
                    .unwrap_or_else(|e| panic!("call {i}: {}", rpc_error(e)))
            })
            .collect();
        let pollables: Vec<_> = futures.iter().map(|f| f.subscribe()).collect();
        let mut pending: Vec<usize> = (0..n as usize).collect();
        while !pending.is_empty() {
            let waiting: Vec<&wasip2::io::poll::Pollable> = pending.iter().map(|&i| &pollables[i]).collect();
            let ready: Vec<usize> = wasip2::io::poll::poll(&waiting).iter().map(|&r| pending[r as usize]).collect();
            pending.retain(|i| !ready.contains(i));
        }
        futures
            .iter()
            .map(|f| match f.get() {
                Some(Ok(json)) => json,
                Some(Err(e)) => rpc_error(e),
                None => panic!("a ready future has its result"),
            })
            .collect()
    }
}
