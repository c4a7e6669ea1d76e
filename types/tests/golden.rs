//! Golden files for the oplog codec: one committed `.bin` per [`OplogEntry`]
//! variant (and one batch), each decoded with today's code and compared with
//! the value it was written from. An old entry that stops decoding fails here
//! before it fails in production.
//!
//! Files are written only when missing, or for every sample when
//! `REVENANT_BLESS=1` is set (do that only for a deliberate format change, and
//! say why in the commit). A new variant must get a sample in [`samples`]:
//! [`variant_index`] matches exhaustively, so adding a variant does not
//! compile until it has a number, and the coverage check fails until it has a
//! sample.

use std::path::PathBuf;

use revenant_types::codec::{self, OplogBatch};
use revenant_types::oplog::{
    Durability, ErrorBody, ErrorKind, HostValue, HttpRequestRecord, HttpResponseRecord,
    InvocationOutcome, OplogEntry, TraceContext,
};
use revenant_types::snapshot::{HostState, UpdateMode};

/// A number per variant; exhaustive on purpose.
fn variant_index(e: &OplogEntry) -> usize {
    match e {
        OplogEntry::Create { .. } => 0,
        OplogEntry::InvocationStarted { .. } => 1,
        OplogEntry::HostCall { .. } => 2,
        OplogEntry::InvocationCompleted { .. } => 3,
        OplogEntry::Error { .. } => 4,
        OplogEntry::Suspended { .. } => 5,
        OplogEntry::Resumed { .. } => 6,
        OplogEntry::Interrupted { .. } => 7,
        OplogEntry::Exited { .. } => 8,
        OplogEntry::PendingInvocation { .. } => 9,
        OplogEntry::PromiseCreated { .. } => 10,
        OplogEntry::PromiseCompleted { .. } => 11,
        OplogEntry::TimerScheduled { .. } => 12,
        OplogEntry::BeginRemoteWrite { .. } => 13,
        OplogEntry::EndRemoteWrite { .. } => 14,
        OplogEntry::BeginAtomicRegion => 15,
        OplogEntry::EndAtomicRegion { .. } => 16,
        OplogEntry::Snapshot { .. } => 17,
        OplogEntry::UpdatePending { .. } => 18,
        OplogEntry::UpdateSucceeded { .. } => 19,
        OplogEntry::UpdateFailed { .. } => 20,
        OplogEntry::Log { .. } => 21,
        OplogEntry::Deleted { .. } => 22,
        OplogEntry::TimerFired { .. } => 23,
        OplogEntry::RpcCompleted { .. } => 24,
        OplogEntry::FiringSkipped { .. } => 25,
    }
}
const VARIANTS: usize = 26;

const AT: u64 = 1_700_000_000_123;

fn http_request() -> HttpRequestRecord {
    HttpRequestRecord {
        method: "POST".into(),
        uri: "https://example.com/api?q=1".into(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: b"{\"a\":1}".to_vec(),
    }
}

fn http_response() -> HttpResponseRecord {
    HttpResponseRecord {
        status: 201,
        headers: vec![("x-id".into(), "42".into())],
        body: vec![0, 1, 2, 255],
    }
}

/// `(file stem, value)` for every variant; host values cover every `HostValue` kind.
fn samples() -> Vec<(&'static str, OplogEntry)> {
    vec![
        (
            "create",
            OplogEntry::Create {
                at: AT,
                component_version: 3,
                args: vec!["--verbose".into()],
                env: vec![("RUST_LOG".into(), "debug".into())],
            },
        ),
        (
            "invocation-started",
            OplogEntry::InvocationStarted {
                at: AT,
                idempotency_key: "key-1".into(),
                function: "example:counter/api.{add}".into(),
                args: "[5]".into(),
                trace: TraceContext {
                    traceparent: Some(
                        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
                    ),
                    tracestate: Some("rojo=00f067aa0ba902b7".into()),
                },
                reply_to: None,
                caller: None,
                schedule: None,
            },
        ),
        (
            "host-call",
            OplogEntry::HostCall {
                function: "wasi:clocks/wall-clock.now".into(),
                request: HostValue::Unit,
                response: HostValue::Datetime {
                    seconds: 1_700_000_000,
                    nanoseconds: 5,
                },
                durability: Durability::ReadRemote,
            },
        ),
        (
            "invocation-completed",
            OplogEntry::InvocationCompleted {
                at: AT,
                idempotency_key: "key-1".into(),
                outcome: InvocationOutcome::Err(ErrorBody::new(
                    ErrorKind::Trap,
                    "unreachable executed",
                )),
                duration_us: 1234,
            },
        ),
        (
            "error",
            OplogEntry::Error {
                at: AT,
                message: "wasm trap: unreachable".into(),
                retry: 2,
                fatal: true,
            },
        ),
        (
            "suspended",
            OplogEntry::Suspended {
                at: AT,
                waiting: vec![],
            },
        ),
        ("resumed", OplogEntry::Resumed { at: AT }),
        ("interrupted", OplogEntry::Interrupted { at: AT }),
        ("exited", OplogEntry::Exited { at: AT, code: 0 }),
        (
            "pending-invocation",
            OplogEntry::PendingInvocation {
                at: AT,
                idempotency_key: "key-2".into(),
                function: "get".into(),
                body: vec![],
                content_type: None,
                reply_to: None,
                trace: TraceContext::default(),
                stream_sequence: 0,
                caller: None,
            },
        ),
        (
            "promise-created",
            OplogEntry::PromiseCreated { at: AT, promise: 7 },
        ),
        (
            "promise-completed",
            OplogEntry::PromiseCompleted {
                at: AT,
                promise: 7,
                data: b"done".to_vec(),
            },
        ),
        (
            "timer-scheduled",
            OplogEntry::TimerScheduled {
                at: AT,
                fire_at: AT + 60_000,
                subject: "rvn.schedule.c.w.t1".into(),
            },
        ),
        (
            "begin-remote-write",
            OplogEntry::BeginRemoteWrite {
                function: "wasi:http/outgoing-handler.handle".into(),
                request: HostValue::HttpRequest(http_request()),
            },
        ),
        (
            "end-remote-write",
            OplogEntry::EndRemoteWrite {
                begin: 14,
                response: HostValue::HttpResponse(http_response()),
            },
        ),
        ("begin-atomic-region", OplogEntry::BeginAtomicRegion),
        (
            "end-atomic-region",
            OplogEntry::EndAtomicRegion { begin: 16 },
        ),
        (
            "snapshot",
            // Written before the fields after `covers` existed: they decode to defaults.
            OplogEntry::Snapshot {
                at: AT,
                object: "c/w/18".into(),
                covers: 18,
                component_version: 0,
                digest: String::new(),
                size: 0,
                covers_seq: 0,
                host_state: None,
            },
        ),
        (
            "update-pending",
            // Written before `mode` existed: it decodes as `auto`.
            OplogEntry::UpdatePending {
                at: AT,
                target_version: 4,
                mode: UpdateMode::Auto,
            },
        ),
        (
            "update-succeeded",
            OplogEntry::UpdateSucceeded { at: AT, version: 4 },
        ),
        (
            "update-failed",
            OplogEntry::UpdateFailed {
                at: AT,
                version: 5,
                message: "exports changed".into(),
            },
        ),
        (
            "log",
            OplogEntry::Log {
                at: AT,
                stream: "stderr".into(),
                message: "warning: low disk\n".into(),
            },
        ),
        (
            "deleted",
            OplogEntry::Deleted {
                at: AT,
                before: 1_234,
            },
        ),
        ("timer-fired", OplogEntry::TimerFired { at: AT, timer: 12 }),
        (
            "rpc-completed",
            OplogEntry::RpcCompleted {
                at: AT,
                call: 9,
                outcome: InvocationOutcome::Err(ErrorBody::new(
                    ErrorKind::WorkerFailed,
                    "worker payment/7 is failed",
                )),
            },
        ),
        (
            "firing-skipped",
            OplogEntry::FiringSkipped {
                at: AT,
                schedule: "c-hourly".into(),
                idempotency_key: "rvn.schedule.counter.c1.c-hourly@2023-11-14T23:00:00Z".into(),
                reason: "overlap skip: another invocation was running".into(),
            },
        ),
    ]
}

/// A batch exercising the remaining `HostValue` kinds and both outcomes.
fn batch() -> OplogBatch {
    let call = |request, response| OplogEntry::HostCall {
        function: "f".into(),
        request,
        response,
        durability: Durability::WriteRemote,
    };
    OplogBatch {
        first: 41,
        entries: vec![
            call(HostValue::U64(9), HostValue::U64Pair(1, u64::MAX)),
            call(
                HostValue::Bytes(vec![7; 3]),
                HostValue::Text("héllo".into()),
            ),
            call(
                HostValue::Unit,
                HostValue::Error("connection refused".into()),
            ),
            OplogEntry::HostCall {
                function: "g".into(),
                request: HostValue::Unit,
                response: HostValue::Unit,
                durability: Durability::Ephemeral,
            },
            OplogEntry::InvocationCompleted {
                at: AT,
                idempotency_key: "k".into(),
                outcome: InvocationOutcome::Ok("{\"n\":1}".into()),
                duration_us: 0,
            },
        ],
    }
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn bless() -> bool {
    std::env::var("REVENANT_BLESS").is_ok_and(|v| v == "1")
}

/// Writes `bytes` to `stem.bin` if missing (or blessing); returns the file's bytes.
fn golden_bytes(stem: &str, bytes: &[u8]) -> Vec<u8> {
    let path = dir().join(format!("{stem}.bin"));
    if bless() || !path.exists() {
        std::fs::create_dir_all(dir()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        eprintln!("wrote golden file {}", path.display());
    }
    std::fs::read(&path).unwrap()
}

#[test]
fn every_oplog_entry_variant_has_a_sample() {
    let mut seen = [false; VARIANTS];
    for (stem, entry) in samples() {
        assert_eq!(stem, entry.kind(), "file stems are the kind names");
        seen[variant_index(&entry)] = true;
    }
    let missing: Vec<usize> = (0..VARIANTS).filter(|i| !seen[*i]).collect();
    assert!(
        missing.is_empty(),
        "variants without a golden sample (by variant_index): {missing:?}"
    );
}

#[test]
fn committed_golden_entries_still_decode_to_the_same_values() {
    for (stem, expected) in samples() {
        let bytes = golden_bytes(stem, &codec::encode(&expected).unwrap());
        let decoded: OplogEntry = codec::decode(&bytes)
            .unwrap_or_else(|e| panic!("golden file {stem}.bin no longer decodes: {e}"));
        assert_eq!(
            decoded, expected,
            "golden file {stem}.bin decodes to a different value"
        );
    }
}

#[test]
fn committed_golden_batch_still_decodes() {
    let expected = batch();
    let bytes = golden_bytes("batch", &codec::encode(&expected).unwrap());
    let decoded: OplogBatch = codec::decode(&bytes).expect("batch.bin decodes");
    assert_eq!(decoded, expected);
    assert_eq!(decoded.next_index(), 46);
}

/// Consecutive monotonic-clock readings coalesced into one `HostCall` (a `U64List`).
#[test]
fn a_host_call_with_coalesced_readings_is_pinned() {
    let expected = OplogEntry::HostCall {
        function: "wasi:clocks/monotonic-clock.now".into(),
        request: HostValue::Unit,
        response: HostValue::U64List(vec![4_979_399, 5_568_484, u64::MAX]),
        durability: Durability::ReadRemote,
    };
    let bytes = golden_bytes("host-call-u64-list", &codec::encode(&expected).unwrap());
    let decoded: OplogEntry = codec::decode(&bytes).expect("host-call-u64-list.bin decodes");
    assert_eq!(decoded, expected);
}

/// Every error kind string written before the kinds became an enum (and one no
/// build knows), as the outcome of an `InvocationCompleted`. Written out, not
/// taken from `ErrorKind::KNOWN`, so adding a kind does not change the file.
const WRITTEN_KINDS: &[&str] = &[
    "invalid-name",
    "missing-function",
    "unknown-component",
    "unknown-function",
    "unknown-worker",
    "invalid-json",
    "invalid-wave",
    "invalid-arguments",
    "unsupported-content-type",
    "payload-too-large",
    "invalid-control",
    "trap",
    "divergence",
    "deadline-exceeded",
    "worker-failed",
    "timeout",
    "unavailable",
    "internal",
];
const UNKNOWN_KIND: &str = "kind-from-a-newer-build";

fn error_kinds_batch() -> OplogBatch {
    OplogBatch {
        first: 1,
        entries: WRITTEN_KINDS
            .iter()
            .chain([&UNKNOWN_KIND])
            .map(|kind| OplogEntry::InvocationCompleted {
                at: AT,
                idempotency_key: format!("key-{kind}"),
                outcome: InvocationOutcome::Err(ErrorBody::new(ErrorKind::parse(kind), *kind)),
                duration_us: 1,
            })
            .collect(),
    }
}

#[test]
fn every_error_kind_ever_written_still_decodes_and_an_unknown_one_is_kept() {
    let expected = error_kinds_batch();
    let bytes = golden_bytes("error-kinds", &codec::encode(&expected).unwrap());
    let decoded: OplogBatch = codec::decode(&bytes).expect("error-kinds.bin decodes");
    assert_eq!(decoded, expected);
    for entry in &decoded.entries {
        let OplogEntry::InvocationCompleted {
            outcome: InvocationOutcome::Err(e),
            ..
        } = entry
        else {
            panic!("not an error outcome: {entry:?}");
        };
        assert_eq!(
            e.kind.as_str(),
            e.message,
            "the kind string is kept as written"
        );
        assert_eq!(
            e.kind.is_known(),
            e.message != UNKNOWN_KIND,
            "{} must stay a known kind",
            e.message
        );
    }
    // The unknown kind is written back byte for byte.
    assert_eq!(codec::encode(&decoded).unwrap(), bytes);
}

/// A `Snapshot` with every field added for the snapshot policy (the host state too).
fn snapshot_with_host_state() -> OplogEntry {
    OplogEntry::Snapshot {
        at: AT,
        object: "counter/c1/1000".into(),
        covers: 1000,
        component_version: 2,
        digest: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
        size: 8,
        covers_seq: 4242,
        host_state: Some(HostState {
            created_at: AT,
            args: vec!["--verbose".into()],
            env: vec![("RUST_LOG".into(), "debug".into())],
            promises: vec![12, 40],
            promise_payloads: vec![(12, serde_bytes::ByteBuf::from(b"yes".to_vec()))],
            timers_fired: vec![33],
        }),
    }
}

#[test]
fn committed_golden_snapshot_with_host_state_still_decodes() {
    let expected = snapshot_with_host_state();
    let bytes = golden_bytes("snapshot-host-state", &codec::encode(&expected).unwrap());
    let decoded: OplogEntry = codec::decode(&bytes).expect("snapshot-host-state.bin decodes");
    assert_eq!(decoded, expected);
}

#[test]
fn committed_golden_snapshot_update_pending_still_decodes() {
    let expected = OplogEntry::UpdatePending {
        at: AT,
        target_version: 5,
        mode: UpdateMode::Snapshot,
    };
    let bytes = golden_bytes(
        "update-pending-snapshot",
        &codec::encode(&expected).unwrap(),
    );
    let decoded: OplogEntry = codec::decode(&bytes).expect("update-pending-snapshot.bin decodes");
    assert_eq!(decoded, expected);
}
