//! The executor's spans (ARCHITECTURE.md "Tracing"), built from what the drivers
//! already know and handed to [`revenant_types::trace::emit`]; every function here is a
//! no-op (one atomic load) while export is off.
//!
//! - `invoke <function>`: one per invocation, emitted live once its completion is
//!   committed, with its journaled start time and the id derived from (worker, key)
//!   ([`trace::invocation_span`]); never emitted by a replay (replay re-runs completed
//!   invocations without reaching the completion that emits).
//! - `rpc <mode> <component>.<function>` and `http <METHOD>`: host calls made live,
//!   children of the invocation span (a send or a schedule starts a new trace linked to
//!   it); a call a replay answers from the journal emits nothing. An RPC span covers
//!   journaling and publishing the call; the callee's invocation span is its child.
//! - `subscription <name>`: a subscription message forwarded as an invocation, the root
//!   of a new trace linked to the trace the message was published in.
//! - `replay`: one per recovery that re-ran recorded invocations, a child of the
//!   unfinished invocation it resumes (if any).
//!
//! Owns no decision: which span hangs where is [`revenant_types::trace`]'s.

use std::time::SystemTime;

use revenant_types::WorkerId;
use revenant_types::oplog::{InvocationOutcome, TimestampMs};
use revenant_types::trace::{self, Kind, Placed, Service, SpanIds, SpanRecord};

/// Emits the span of invocation `key`, placed by [`trace::invocation_span`].
pub fn invocation(
    worker: &WorkerId,
    key: &str,
    function: &str,
    place: &Placed,
    started_at: TimestampMs,
    outcome: &InvocationOutcome,
) {
    if !trace::enabled() {
        return;
    }
    let mut span = SpanRecord::new(
        format!("invoke {function}"),
        Kind::Consumer,
        place.clone(),
        trace::at_ms(started_at),
    )
    .attr("rvn.worker", worker.to_string())
    .attr("rvn.function", function)
    .attr("rvn.idempotency_key", key);
    if let InvocationOutcome::Err(e) = outcome {
        span.error = Some(format!("{}: {}", e.kind, e.message));
    }
    trace::emit(Service::Executor, span);
}

/// A host call being made live: its place (to carry on to the callee) and start.
pub struct Call {
    pub place: Placed,
    started: SystemTime,
}

impl Call {
    /// A call made by the invocation whose outgoing context is `context`: its child, or
    /// (`new_trace`, for fire-and-forget sends and schedules) the root of a new trace
    /// linked to it. `None` while export is off.
    pub fn start(context: &revenant_types::oplog::TraceContext, new_trace: bool) -> Option<Self> {
        if !trace::enabled() {
            return None;
        }
        let place = if new_trace {
            Placed::root()
        } else {
            Placed::child_of(context)
        };
        Some(Self {
            place,
            started: SystemTime::now(),
        })
    }

    /// Emits the call's span, linked to `context`'s span when it started a new trace.
    pub fn end(
        self,
        name: String,
        kind: Kind,
        context: &revenant_types::oplog::TraceContext,
        attributes: Vec<(&'static str, String)>,
        error: Option<String>,
    ) {
        let mut span = SpanRecord::new(name, kind, self.place, self.started);
        if span.place.parent.is_none()
            && let Some(cause) = context.traceparent.as_deref().and_then(SpanIds::parse)
        {
            span.links.push(cause);
        }
        span.attributes = attributes;
        span.error = error;
        trace::emit(Service::Executor, span);
    }
}

/// Emits the span of a recovery of `worker` that re-ran `invocations` recorded
/// invocations from `started`: a child of the span of the unfinished invocation it
/// resumes (`tail`), else the root of a trace of its own.
pub fn replay(
    worker: &WorkerId,
    started: SystemTime,
    invocations: usize,
    tail: Option<&Placed>,
    error: Option<&str>,
) {
    if !trace::enabled() {
        return;
    }
    let place = tail.map_or_else(Placed::root, |t| Placed::child_of(&t.context()));
    let mut span = SpanRecord::new("replay", Kind::Internal, place, started)
        .attr("rvn.worker", worker.to_string())
        .attr("rvn.replayed_invocations", invocations.to_string());
    span.error = error.map(str::to_owned);
    trace::emit(Service::Executor, span);
}
