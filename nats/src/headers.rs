//! Header names of the NATS contract, as constants (Revenant's own `Rvn-*`
//! headers and the NATS / W3C ones it relies on). Values are built by the
//! callers; this module only owns the names.

/// Exported function to invoke: `pkg:ns/iface.{fn}` or a bare `fn`.
pub const FUNCTION: &str = "Rvn-Function";
/// Subject the result is published to when the invocation completes.
pub const REPLY_TO: &str = "Rvn-Reply-To";
/// `ok` or `error`, on results.
pub const STATUS: &str = "Rvn-Status";
/// `application/json` (default) or `application/wave`.
pub const CONTENT_TYPE: &str = "Content-Type";
/// The idempotency key (JetStream dedup within its window).
pub const MSG_ID: &str = "Nats-Msg-Id";
/// W3C trace context.
pub const TRACEPARENT: &str = "traceparent";
/// W3C trace state.
pub const TRACESTATE: &str = "tracestate";
/// The error kind of an `error` result or a dead letter.
pub const ERROR_KIND: &str = "Rvn-Error-Kind";
/// Human-readable reason a dead letter was rejected.
pub const ERROR_MESSAGE: &str = "Rvn-Error-Message";
/// Index of the first entry of an oplog message (entries keep their index across batching).
pub const OPLOG_FIRST_INDEX: &str = "Rvn-Oplog-Index";
/// Number of entries in an oplog message.
pub const OPLOG_COUNT: &str = "Rvn-Oplog-Count";
/// The object (in `RVN_BLOBS`) holding this message's real payload, which was too
/// large for one message; the message itself carries none.
pub const PAYLOAD_REF: &str = "Rvn-Payload-Ref";
/// The original subject of a dead letter.
pub const ORIGINAL_SUBJECT: &str = "Rvn-Original-Subject";
/// A dead letter of a message whose header block the client could not read: that block, base64.
pub const ORIGINAL_HEADERS_BASE64: &str = "Rvn-Original-Headers-Base64";

/// On an answer to a duplicate whose arguments differ from the original's:
/// `arguments-differ` (the outcome is the original invocation's).
pub const DUPLICATE: &str = "Rvn-Duplicate";
/// The `Rvn-Duplicate` value.
pub const DUPLICATE_ARGUMENTS_DIFFER: &str = "arguments-differ";

/// What an inbox message is: `invoke` (default), `timer` (a fired durable timer),
/// `complete` (a promise completion), `result` (an RPC result), `cancel`.
pub const KIND: &str = "Rvn-Kind";
/// The idempotency key when `Nats-Msg-Id` cannot carry it (message schedules strip it).
pub const IDEMPOTENCY_KEY: &str = "Rvn-Idempotency-Key";
/// On `Rvn-Kind: timer`: the oplog index of the timer's `TimerScheduled` entry.
pub const TIMER: &str = "Rvn-Timer";
/// On `Rvn-Kind: complete`: the oplog index of the promise's `PromiseCreated` entry.
pub const PROMISE: &str = "Rvn-Promise";
/// Set by a scheduler on the copy it fires: the schedule's subject.
pub const SCHEDULER: &str = "Nats-Scheduler";
/// Set by a scheduler on the copy it fires: when the schedule fires next.
pub const SCHEDULE_NEXT: &str = "Nats-Schedule-Next";

/// On an invocation from another worker that awaits its outcome: the caller,
/// `<component>/<worker>`, whose inbox gets the outcome as an `Rvn-Kind: result` message.
pub const CALLER: &str = "Rvn-Caller";
/// On an invocation from another worker: the workers waiting on it
/// (`<component>/<worker>`, comma-separated, the caller last). An await of any of them
/// would close a cycle and fails with `cycle` instead.
pub const CALL_CHAIN: &str = "Rvn-Call-Chain";
/// On `Rvn-Kind: result`: the idempotency key of the call it answers.
pub const CORRELATION: &str = "Rvn-Correlation";
/// The subscription an invocation (or a dead letter of its source message) comes from:
/// its forwarder records a failed message per the subscription's policy, so the
/// executor does not dead-letter the rejected invocation itself.
pub const SUBSCRIPTION: &str = "Rvn-Subscription";
/// `1` asks the executor to store the invocation's result in the `RVN_RESULTS` index
/// before it acks (the router sets it, so `GET /v1/invocations/{key}` finds a result as
/// soon as its reply is out). Without it the index is written after the ack, or not
/// at all under `--results-index requested`; the result is in the worker's oplog either way.
pub const RESULT_INDEX: &str = "Rvn-Result-Index";
/// A subscription's dead letter: the source stream and sequence (`<stream>:<seq>`).
pub const SOURCE: &str = "Rvn-Source";

/// `Rvn-Kind` values.
pub const KIND_INVOKE: &str = "invoke";
pub const KIND_TIMER: &str = "timer";
pub const KIND_COMPLETE: &str = "complete";
pub const KIND_RESULT: &str = "result";

/// `application/json`.
pub const CONTENT_TYPE_JSON: &str = "application/json";
/// `application/wave`.
pub const CONTENT_TYPE_WAVE: &str = "application/wave";
/// `application/msgpack` (internal records).
pub const CONTENT_TYPE_MSGPACK: &str = "application/msgpack";
/// `Rvn-Status: ok`.
pub const STATUS_OK: &str = "ok";
/// `Rvn-Status: error`.
pub const STATUS_ERROR: &str = "error";

/// JetStream optimistic concurrency: the last stored sequence on the subject.
pub const EXPECTED_LAST_SUBJECT_SEQUENCE: &str = "Nats-Expected-Last-Subject-Sequence";
/// An atomic batch's id (ADR-50): oplog appends of several workers stored as one write.
pub const BATCH_ID: &str = "Nats-Batch-Id";
/// A message's place in its atomic batch, from 1.
pub const BATCH_SEQUENCE: &str = "Nats-Batch-Sequence";
/// On the last message of an atomic batch: `1` commits it.
pub const BATCH_COMMIT: &str = "Nats-Batch-Commit";
/// JetStream per-message TTL (`allow_msg_ttl` streams).
pub const MSG_TTL: &str = "Nats-TTL";
/// JetStream message schedule (`@at <RFC3339>`, cron forms), on `allow_msg_schedules` streams.
pub const SCHEDULE: &str = "Nats-Schedule";
/// Where a scheduled message is published when it fires.
pub const SCHEDULE_TARGET: &str = "Nats-Schedule-Target";
/// The IANA time zone of a cron `Nats-Schedule` (nats-server 2.14+).
pub const SCHEDULE_TIME_ZONE: &str = "Nats-Schedule-Time-Zone";

/// On a scheduled invocation (copied to every firing): `queue` (default) or `skip`
/// (skipped while another invocation of the worker runs).
pub const OVERLAP: &str = "Rvn-Overlap";
/// On a scheduled invocation: a firing later than this many seconds after its time is
/// skipped and recorded (default: no bound).
pub const CATCHUP: &str = "Rvn-Catchup";
/// On a one-off scheduled invocation: its time (RFC 3339), for lateness and catch-up.
pub const SCHEDULED_AT: &str = "Rvn-Scheduled-At";
