//! The names of the journaled host functions, as `HostCall` and
//! `BeginRemoteWrite` entries record them. They are a persistent format like
//! the entries themselves: replay matches a recorded call by this name, so a
//! renamed constant would make every existing oplog diverge. The golden file
//! `tests/golden/host-functions.txt` lists them; a test fails when one changes.
//! New functions are added, old ones never renamed or removed.

pub const WALL_CLOCK_NOW: &str = "wasi:clocks/wall-clock.now";
pub const MONOTONIC_CLOCK_NOW: &str = "wasi:clocks/monotonic-clock.now";
pub const RANDOM_BYTES: &str = "wasi:random/random.get-random-bytes";
pub const RANDOM_U64: &str = "wasi:random/random.get-random-u64";
pub const INSECURE_RANDOM_BYTES: &str = "wasi:random/insecure.get-insecure-random-bytes";
pub const INSECURE_RANDOM_U64: &str = "wasi:random/insecure.get-insecure-random-u64";
pub const HTTP_HANDLE: &str = "wasi:http/outgoing-handler.handle";
pub const OPLOG_INDEX: &str = "revenant:api/durability.oplog-index";
pub const GENERATE_IDEMPOTENCY_KEY: &str = "revenant:api/durability.generate-idempotency-key";
/// A durable timer: request the duration (ns), response the wall time it fires (ms).
pub const SUBSCRIBE_DURATION: &str = "wasi:clocks/monotonic-clock.subscribe-duration";
/// A durable timer: request the monotonic instant (ns), response the wall time it fires (ms).
pub const SUBSCRIBE_INSTANT: &str = "wasi:clocks/monotonic-clock.subscribe-instant";
/// Which of the polled pollables were ready (request: how many were polled).
pub const POLL: &str = "wasi:io/poll.poll";
/// Whether a pollable was ready.
pub const POLLABLE_READY: &str = "wasi:io/poll.pollable.ready";
/// A promise was created; its id's index is this entry's.
pub const PROMISE_CREATE: &str = "revenant:api/promises.create";
/// Whether a promise was completed by then, and its payload.
pub const PROMISE_POLL: &str = "revenant:api/promises.poll";
/// A promise (any worker's) was completed by this worker: a remote write.
pub const PROMISE_COMPLETE: &str = "revenant:api/promises.complete";
/// A worker-to-worker call that waits for its outcome (`RpcStarted`): a remote write
/// whose request is the call (target, function, JSON arguments) and whose end records
/// the call's key once the invocation is published.
pub const RPC_INVOKE_AND_AWAIT: &str = "revenant:api/rpc.invoke-and-await";
/// A fire-and-forget worker-to-worker call: a remote write, as above.
pub const RPC_INVOKE: &str = "revenant:api/rpc.invoke";
/// A worker-to-worker call whose outcome is awaited later (a future): a remote write.
pub const RPC_INVOKE_ASYNC: &str = "revenant:api/rpc.invoke-async";
/// Whether a future's outcome had arrived by then (request: the call's index).
pub const RPC_FUTURE_GET: &str = "revenant:api/rpc.future-result.get";
/// A scheduled worker-to-worker call: a remote write (the call and its time → the schedule id).
pub const RPC_SCHEDULE: &str = "revenant:api/rpc.schedule";
/// A schedule cancelled: a remote write (`<c>/<w>/<id>` → whether it was pending).
pub const RPC_CANCEL_SCHEDULE: &str = "revenant:api/rpc.cancel-schedule";

/// A durable publish: a remote write (the message → where a stream stored it, or why not).
pub const MESSAGING_PUBLISH: &str = "revenant:api/messaging.publish";

/// Every journaled host function name, in the golden file's order.
pub const ALL: [&str; 23] = [
    WALL_CLOCK_NOW,
    MONOTONIC_CLOCK_NOW,
    RANDOM_BYTES,
    RANDOM_U64,
    INSECURE_RANDOM_BYTES,
    INSECURE_RANDOM_U64,
    HTTP_HANDLE,
    OPLOG_INDEX,
    GENERATE_IDEMPOTENCY_KEY,
    SUBSCRIBE_DURATION,
    SUBSCRIBE_INSTANT,
    POLL,
    POLLABLE_READY,
    PROMISE_CREATE,
    PROMISE_POLL,
    PROMISE_COMPLETE,
    RPC_INVOKE_AND_AWAIT,
    RPC_INVOKE,
    RPC_INVOKE_ASYNC,
    RPC_FUTURE_GET,
    RPC_SCHEDULE,
    RPC_CANCEL_SCHEDULE,
    MESSAGING_PUBLISH,
];

#[cfg(test)]
mod tests {
    #[test]
    fn journaled_host_function_names_never_change() {
        let golden = include_str!("../tests/golden/host-functions.txt");
        let listed: Vec<&str> = golden.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(
            super::ALL.as_slice(),
            listed.as_slice(),
            "journaled host-function names are a persistent format: add new ones to \
             types/tests/golden/host-functions.txt, never rename or remove one"
        );
    }
}
