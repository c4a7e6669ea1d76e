//! Worker-to-worker calls (ARCHITECTURE.md "Worker-to-worker RPC"): the protocol
//! both `revenant:api/rpc` (untyped, JSON) and typed client imports
//! ([`super::rpc_client`]) run.
//!
//! 1. Refuse an awaiting call that would close a cycle ([`cycle`]): the target is this
//!    worker or awaits it (`Rvn-Call-Chain`). Nothing is journaled: the chain is in the
//!    oplog (`InvocationStarted.caller`), so a replay refuses the same way.
//! 2. Journal `RpcStarted` — a `BeginRemoteWrite` of `revenant:api/rpc.<mode>` whose
//!    request is the call ([`CallSpec`]) — and commit it (output commit). Its index `i`
//!    names the call; its key is [`crate::decide::call_key`] of this worker and `i`.
//! 3. Publish the invocation to the target's inbox with `Nats-Msg-Id: <key>` and, when
//!    the outcome is awaited, `Rvn-Caller` and `Rvn-Call-Chain`; then journal `RpcSent`
//!    (the `EndRemoteWrite`, response the key). A replay that finds `RpcSent` does not
//!    publish again; one that does not publishes the same key again, which the callee
//!    deduplicates (JetStream within its window, its own oplog beyond).
//!    The published `traceparent` names the call's span (a child of the invocation's;
//!    a send's starts a new trace linked to it: [`crate::spans`]).
//! 4. The callee's executor answers in this worker's inbox (`Rvn-Kind: result`); the
//!    mailbox journals `RpcCompleted` and records the outcome in the worker's
//!    [`super::waits::PromiseBook`] under `i`, where the waiter finds it. An await that
//!    lasts `suspend-after` suspends the worker (`waiting: rpc:<i>`).

use revenant_nats::invocations::InvocationRequest;
use revenant_types::oplog::{CallerRecord, InvocationOutcome, OplogIndex};
use revenant_types::trace::Kind;
use revenant_types::{ErrorKind, WorkerId};

use wasmtime::component::Resource;
use wasmtime_wasi::p2::DynPollable;

use super::journaled::{RpcAsync, RpcAwait, RpcCancelSchedule, RpcFutureGet, RpcSchedule, RpcSend};
use super::waits::{Wait, WaitParts, wait_or_suspend};
use crate::decide::CallSpec;

/// How a call treats its outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Waits for it.
    Await,
    /// Never gets it (fire-and-forget).
    Send,
    /// Gets it later, through a future.
    Async,
}

impl Mode {
    /// Whether the outcome comes back to this worker (and cycles matter).
    pub fn awaits(self) -> bool {
        !matches!(self, Self::Send)
    }
}

/// Why a call did not return the callee's value (the guest's `rpc-error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RpcError {
    NotFound(String),
    Denied(String),
    RemoteError(String),
    WorkerFailed(String),
    Cycle(String),
    Protocol(String),
}

impl RpcError {
    /// The WIT case name and its message.
    pub fn case(&self) -> (&'static str, &str) {
        match self {
            Self::NotFound(m) => ("not-found", m),
            Self::Denied(m) => ("denied", m),
            Self::RemoteError(m) => ("remote-error", m),
            Self::WorkerFailed(m) => ("worker-failed", m),
            Self::Cycle(m) => ("cycle", m),
            Self::Protocol(m) => ("protocol", m),
        }
    }
}

/// The call result a guest sees for the callee's outcome: its JSON value, or the error
/// its kind stands for (the message names the kind).
pub fn to_result(outcome: InvocationOutcome) -> Result<String, RpcError> {
    let error = match outcome {
        InvocationOutcome::Ok(json) => return Ok(json),
        InvocationOutcome::Err(error) => error,
    };
    let message = format!("{}: {}", error.kind, error.message);
    Err(match error.kind {
        ErrorKind::UnknownComponent | ErrorKind::UnknownFunction | ErrorKind::InvalidArguments => {
            RpcError::NotFound(message)
        }
        ErrorKind::WorkerFailed | ErrorKind::WorkerExited => RpcError::WorkerFailed(message),
        ErrorKind::WorkerDeleted | ErrorKind::KeyConflict => RpcError::Denied(message),
        ErrorKind::InvalidMessage
        | ErrorKind::InvalidReply
        | ErrorKind::InvalidName
        | ErrorKind::MissingFunction
        | ErrorKind::InvalidJson
        | ErrorKind::UnsupportedContentType
        | ErrorKind::PayloadTooLarge => RpcError::Protocol(message),
        _ => RpcError::RemoteError(message),
    })
}

/// Why awaiting `target` from worker `me`, awaited by `chain`, would deadlock, if it would.
pub fn cycle(me: &WorkerId, target: &WorkerId, chain: &[String]) -> Option<RpcError> {
    let target_name = target.to_string();
    if target == me {
        return Some(RpcError::Cycle(format!(
            "worker {me} cannot await a call to itself: it runs one invocation at a time, so the call would wait for the caller forever (use a send, or call a function directly)"
        )));
    }
    let from = chain.iter().position(|w| *w == target_name)?;
    Some(RpcError::Cycle(format!(
        "awaiting {target} from {me} would close the cycle {} → {me} → {target}: {target} already waits for this call",
        chain[from..].join(" → ")
    )))
}

/// Checks a call before anything is journaled: the target's names and the arguments'
/// JSON (both deterministic, so a replay refuses the same way).
pub fn check(component: &str, worker: &str, args: &str) -> Result<WorkerId, RpcError> {
    let target = WorkerId::parse(component, worker).map_err(|e| {
        RpcError::Protocol(format!(
            "the call's target {component}/{worker} is not a worker id: {e}"
        ))
    })?;
    serde_json::from_str::<serde_json::Value>(args).map_err(|e| {
        RpcError::Protocol(format!(
            "the call's arguments are not JSON ({e}); expected a JSON array of arguments or an object by parameter name"
        ))
    })?;
    Ok(target)
}

/// Steps 1–3 of the protocol: returns the call's index and key, or why it was refused.
/// A NATS failure while publishing is a trap (the invocation is retried, and the retry
/// publishes the same key).
pub async fn start(
    parts: &mut WaitParts<'_>,
    target: &WorkerId,
    function: &str,
    args: &str,
    mode: Mode,
) -> wasmtime::Result<Result<(OplogIndex, String), RpcError>> {
    let journal = parts.journal;
    let me = journal.worker().clone();
    let context = journal.context();
    if mode.awaits()
        && let Some(error) = cycle(&me, target, &context.chain)
    {
        return Ok(Err(error));
    }
    let spec = CallSpec {
        target: target.to_string(),
        function: function.to_owned(),
        args: args.to_owned(),
        at: None,
    };
    let spec = serde_json::to_string(&spec)?;
    let (index, sent) = match mode {
        Mode::Await => journal.begin_write::<RpcAwait>(spec)?,
        Mode::Send => journal.begin_write::<RpcSend>(spec)?,
        Mode::Async => journal.begin_write::<RpcAsync>(spec)?,
    };
    let key = crate::decide::call_key(&me, index);
    if sent.is_some() {
        return Ok(Ok((index, key)));
    }
    // Output commit: the call leaves only once what led to it is durable.
    journal.commit().await?;
    let caller = mode.awaits().then(|| {
        let mut chain = context.chain.clone();
        chain.push(me.to_string());
        CallerRecord {
            worker: me.to_string(),
            chain,
        }
    });
    // The call's span: a child of the invocation's, or for a send a new trace linked to it.
    let span = crate::spans::Call::start(&context.trace, mode == Mode::Send);
    let request = InvocationRequest {
        function: function.to_owned(),
        idempotency_key: Some(key.clone()),
        reply_to: None,
        content_type: Some(revenant_nats::headers::CONTENT_TYPE_JSON.to_owned()),
        body: args.to_owned().into(),
        trace: span
            .as_ref()
            .map_or_else(|| context.trace.clone(), |s| s.place.context()),
        caller,
        subscription: None,
        index: false,
    };
    parts
        .waits
        .nats
        .publish_invocation(target, &request)
        .await?;
    if let Some(span) = span {
        let (name, kind) = match mode {
            Mode::Await => ("await", Kind::Client),
            Mode::Send => ("send", Kind::Producer),
            Mode::Async => ("async", Kind::Client),
        };
        let attributes = vec![
            ("rvn.target", target.to_string()),
            ("rvn.function", function.to_owned()),
            ("rvn.idempotency_key", key.clone()),
        ];
        let name = format!("rpc {name} {}.{function}", target.component);
        span.end(name, kind, &context.trace, attributes, None);
    }
    match mode {
        Mode::Await => journal.end_write::<RpcAwait>(index, key.clone()),
        Mode::Send => journal.end_write::<RpcSend>(index, key.clone()),
        Mode::Async => journal.end_write::<RpcAsync>(index, key.clone()),
    }
    Ok(Ok((index, key)))
}

/// Schedules a call for `at` (ms since the Unix epoch) as a JetStream message schedule
/// on the target's holder `i-<key>`, the key derived from this call like any call's:
/// journaled as a remote write, so a replay does not schedule again. Returns the
/// schedule's id.
pub async fn schedule(
    parts: &mut WaitParts<'_>,
    at: u64,
    target: &WorkerId,
    function: &str,
    args: &str,
) -> wasmtime::Result<Result<String, RpcError>> {
    use revenant_types::schedule::{ScheduleSpec, When, one_off_id};
    let journal = parts.journal;
    let me = journal.worker().clone();
    let spec = CallSpec {
        target: target.to_string(),
        function: function.to_owned(),
        args: args.to_owned(),
        at: Some(at),
    };
    let (index, recorded) = journal.begin_write::<RpcSchedule>(serde_json::to_string(&spec)?)?;
    if let Some(recorded) = recorded {
        return Ok(recorded.map_err(RpcError::Protocol));
    }
    journal.commit().await?;
    let key = crate::decide::call_key(&me, index);
    // Its firing starts a new trace, linked to this invocation.
    let context = journal.context().trace;
    let span = crate::spans::Call::start(&context, true);
    let answer = match one_off_id(&key) {
        Err(e) => Err(e.0),
        Ok(id) => {
            let spec = ScheduleSpec {
                worker: target.clone(),
                id: id.clone(),
                // A schedule fires at whole seconds: rounded up, never early.
                when: When::At(at.div_ceil(1_000) * 1_000),
                function: function.to_owned(),
                args: args.to_owned(),
                content_type: Some(revenant_nats::headers::CONTENT_TYPE_JSON.to_owned()),
                idempotency_key: Some(key.clone()),
                overlap: Default::default(),
                catchup_secs: None,
                trace: span.as_ref().map(|s| s.place.context()).unwrap_or_default(),
            };
            match revenant_nats::schedules::put(&parts.waits.nats, &spec).await {
                Ok(_) => Ok(id),
                Err(revenant_nats::Error::BadSchedule(why)) => Err(why),
                // NATS is unreachable: a trap, retried with the invocation.
                Err(e) => return Err(e.into()),
            }
        }
    };
    if let Some(span) = span {
        let attributes = vec![
            ("rvn.target", target.to_string()),
            ("rvn.function", function.to_owned()),
            ("rvn.idempotency_key", key),
        ];
        let name = format!("rpc schedule {}.{function}", target.component);
        span.end(
            name,
            Kind::Producer,
            &context,
            attributes,
            answer.clone().err(),
        );
    }
    journal.end_write::<RpcSchedule>(index, answer.clone());
    Ok(answer.map_err(RpcError::Protocol))
}

/// Cancels schedule `id` of `target`: whether it was pending. Journaled as a remote write.
pub async fn cancel_schedule(
    parts: &mut WaitParts<'_>,
    target: &WorkerId,
    id: &str,
) -> wasmtime::Result<Result<bool, RpcError>> {
    let journal = parts.journal;
    let (index, recorded) = journal.begin_write::<RpcCancelSchedule>(format!("{target}/{id}"))?;
    if let Some(recorded) = recorded {
        return Ok(recorded.map_err(RpcError::Protocol));
    }
    journal.commit().await?;
    let answer = match revenant_nats::schedules::cancel(&parts.waits.nats, target, id).await {
        Ok(pending) => Ok(pending),
        Err(revenant_nats::Error::BadSchedule(why)) => Err(why),
        Err(e) => return Err(e.into()),
    };
    journal.end_write::<RpcCancelSchedule>(index, answer.clone());
    Ok(answer.map_err(RpcError::Protocol))
}

/// Waits for the outcome of call `index`; suspends the worker after `suspend-after`.
pub async fn outcome(
    parts: &mut WaitParts<'_>,
    index: OplogIndex,
) -> wasmtime::Result<Result<String, RpcError>> {
    let book = parts.waits.book.clone();
    let waiting = vec![Wait::Rpc { index }];
    parts.journal.reached_wait(&waiting);
    let ready = book.wait(index);
    let payload = wait_or_suspend(
        ready,
        Some(waiting),
        parts.waits.suspend_after,
        parts.deadline,
    )
    .await?;
    Ok(to_result(crate::decide::decode_outcome(&payload)))
}

/// The outcome of call `index` if it has arrived, without waiting (journaled: whether it
/// had arrived is timing).
pub fn poll(
    parts: &WaitParts<'_>,
    index: OplogIndex,
) -> wasmtime::Result<Option<Result<String, RpcError>>> {
    let book = &parts.waits.book;
    let payload = parts
        .journal
        .read::<RpcFutureGet>(index, || book.get(index))?;
    Ok(payload.map(|p| to_result(crate::decide::decode_outcome(&p))))
}

/// A future of an `invoke-async` call: the index of its `RpcStarted`.
pub struct RpcFuture {
    pub index: OplogIndex,
}

/// A pollable ready once the outcome of call `index` is here (a durable wait).
pub fn outcome_pollable(
    parts: &mut WaitParts<'_>,
    index: OplogIndex,
) -> wasmtime::Result<Resource<DynPollable>> {
    super::waits::book_pollable(parts.table, parts.waits, Wait::Rpc { index }, index)
}

mod untyped;

pub use untyped::add_to_linker;

/// An error body for a refused call, as an outcome (for typed results built from JSON).
pub fn error_json(error: &RpcError) -> serde_json::Value {
    let (case, message) = error.case();
    serde_json::json!({ case: message })
}

#[cfg(test)]
mod tests {
    use revenant_types::oplog::ErrorBody;

    use super::*;

    /// What the error body of an invocation answered with `kind` says.
    fn error_of(kind: ErrorKind, message: &str) -> Result<String, RpcError> {
        to_result(InvocationOutcome::Err(ErrorBody::new(kind, message)))
    }

    fn w(path: &str) -> WorkerId {
        WorkerId::parse_path(path).unwrap()
    }

    #[test]
    fn an_await_of_itself_or_of_anyone_waiting_on_it_is_a_cycle() {
        let me = w("b/1");
        assert!(matches!(cycle(&me, &me, &[]), Some(RpcError::Cycle(_))));
        let chain = vec!["a/1".to_string()];
        let Some(RpcError::Cycle(message)) = cycle(&me, &w("a/1"), &chain) else {
            panic!("a cycle");
        };
        assert!(message.contains("a/1 → b/1 → a/1"), "{message}");
        assert_eq!(cycle(&me, &w("c/1"), &chain), None);
        assert_eq!(cycle(&me, &w("a/2"), &chain), None);
    }

    #[test]
    fn a_callee_error_becomes_the_rpc_error_its_kind_stands_for() {
        assert_eq!(to_result(InvocationOutcome::Ok("5".into())), Ok("5".into()));
        let case = |kind| error_of(kind, "m").unwrap_err().case().0;
        assert_eq!(case(ErrorKind::UnknownFunction), "not-found");
        assert_eq!(case(ErrorKind::InvalidArguments), "not-found");
        assert_eq!(case(ErrorKind::WorkerFailed), "worker-failed");
        assert_eq!(case(ErrorKind::WorkerDeleted), "denied");
        assert_eq!(case(ErrorKind::Trap), "remote-error");
        let e = error_of(ErrorKind::WorkerFailed, "exited").unwrap_err();
        assert_eq!(e.case().1, "worker-failed: exited");
    }

    #[test]
    fn a_call_is_checked_before_it_is_journaled() {
        assert_eq!(check("payment", "7", "[5]"), Ok(w("payment/7")));
        assert!(
            matches!(check("pay ment", "7", "[]"), Err(RpcError::Protocol(m)) if m.contains("pay ment/7"))
        );
        assert!(
            matches!(check("payment", "7", "[5"), Err(RpcError::Protocol(m)) if m.contains("not JSON"))
        );
    }
}
