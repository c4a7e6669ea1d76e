//! Trace context and spans (ARCHITECTURE.md "Tracing"): W3C `traceparent` parsing and
//! formatting, the deterministic ids of invocation spans, and [`emit`], which hands a
//! finished span to the OpenTelemetry API.
//!
//! Rules, as the architecture fixes them:
//! - An invocation's span id is derived from (worker, idempotency key)
//!   ([`invocation_span`]); its trace is the one of the `traceparent` it arrived with,
//!   else one derived from the same pair. A re-run after a crash computes the same ids,
//!   so it cannot make a second distinct span for the invocation.
//! - Host-call spans (RPC, outgoing HTTP) are children of the invocation span and get
//!   fresh random ids ([`SpanIds::child`]): they are emitted only live, when the call
//!   completes, never from the journal.
//! - Fire-and-forget calls, schedules and subscription messages start a new trace
//!   ([`SpanIds::root`]) linked to their cause.
//!
//! Spans are built only when export is on ([`enabled`]: the binary [`install`]ed a
//! tracer); with it off, nothing here allocates or reads a clock. The ids of a span
//! are chosen here, not by the SDK: [`emit`] passes them to the SDK's id generator
//! through [`take_forced_span_id`] / [`take_forced_trace_id`] (a thread-local read
//! during the synchronous build of that one span), because the 0.33 SDK ignores ids set
//! on a `SpanBuilder`.
//!
//! No IO: the exporter and its runtime are the binary's.

use std::cell::Cell;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::global::BoxedTracer;
use opentelemetry::trace::{
    Link, Span as _, SpanBuilder, SpanContext, SpanId, SpanKind, Status, TraceContextExt as _,
    TraceFlags, TraceId, TraceState, Tracer as _,
};
use opentelemetry::{Context, KeyValue};
use sha2::{Digest, Sha256};

use crate::oplog::{TimestampMs, TraceContext};

/// The instrumentation scope of every Revenant span.
pub const SCOPE: &str = "revenant";

/// Which process part a span comes from: each has its own tracer (its own service name),
/// so `revenant up`, which runs both in one process, exports both as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Router,
    Executor,
}

impl Service {
    /// The OpenTelemetry `service.name`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Router => "revenant-router",
            Self::Executor => "revenant-executor",
        }
    }
}

static ENABLED: AtomicBool = AtomicBool::new(false);
static ROUTER: OnceLock<BoxedTracer> = OnceLock::new();
static EXECUTOR: OnceLock<BoxedTracer> = OnceLock::new();

/// Whether spans are exported (a tracer was installed). Cheap: one atomic load.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Installs the tracer of `service` (the binary does, once, when export is configured)
/// and turns span building on. A second install for a service is ignored.
pub fn install(service: Service, tracer: BoxedTracer) {
    let cell = match service {
        Service::Router => &ROUTER,
        Service::Executor => &EXECUTOR,
    };
    let _ = cell.set(tracer);
    ENABLED.store(true, Ordering::Relaxed);
}

thread_local! {
    static FORCED_TRACE: Cell<Option<[u8; 16]>> = const { Cell::new(None) };
    static FORCED_SPAN: Cell<Option<[u8; 8]>> = const { Cell::new(None) };
}

/// The trace id [`emit`] chose for the root span being built on this thread, if any
/// (for the SDK's id generator; taken once).
pub fn take_forced_trace_id() -> Option<[u8; 16]> {
    FORCED_TRACE.with(Cell::take)
}

/// The span id [`emit`] chose for the span being built on this thread, if any (for the
/// SDK's id generator; taken once).
pub fn take_forced_span_id() -> Option<[u8; 8]> {
    FORCED_SPAN.with(Cell::take)
}

/// A span's place: its trace, its own id and the W3C trace flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpanIds {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub flags: u8,
}

/// The W3C "sampled" flag.
const SAMPLED: u8 = 1;

impl SpanIds {
    /// Parses a W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`). Versions above 00
    /// are read by their first four fields, as the recommendation asks; all-zero ids and
    /// anything malformed are `None` (the span then starts a trace of its own).
    pub fn parse(traceparent: &str) -> Option<Self> {
        let mut parts = traceparent.trim().split('-');
        let version = parts.next()?;
        let (trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?);
        if version.len() != 2 || version == "ff" || (version == "00" && parts.next().is_some()) {
            return None;
        }
        u8::from_str_radix(version, 16).ok()?;
        let trace_id: [u8; 16] = hex_bytes(trace)?;
        let span_id: [u8; 8] = hex_bytes(span)?;
        let [flags] = hex_bytes::<1>(flags)?;
        if trace_id == [0; 16] || span_id == [0; 8] {
            return None;
        }
        Some(Self {
            trace_id,
            span_id,
            flags,
        })
    }

    /// The `traceparent` naming this span as the parent.
    pub fn traceparent(&self) -> String {
        format!(
            "00-{}-{}-{:02x}",
            hex(&self.trace_id),
            hex(&self.span_id),
            self.flags
        )
    }

    /// A child of this span with a fresh random id.
    pub fn child(&self) -> Self {
        Self {
            span_id: random_span_id(),
            ..*self
        }
    }

    /// The first span of a new trace (random ids, sampled).
    pub fn root() -> Self {
        Self {
            trace_id: loop {
                let id: [u8; 16] = rand::random();
                if id != [0; 16] {
                    break id;
                }
            },
            span_id: random_span_id(),
            flags: SAMPLED,
        }
    }

    /// The trace context a hop carries with this span as its parent (`tracestate` kept).
    pub fn context(&self, tracestate: Option<&str>) -> TraceContext {
        TraceContext {
            traceparent: Some(self.traceparent()),
            tracestate: tracestate.map(str::to_owned),
        }
    }
}

fn random_span_id() -> [u8; 8] {
    loop {
        let id: [u8; 8] = rand::random();
        if id != [0; 8] {
            return id;
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_bytes<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N || !text.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut out = [0u8; N];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// A span and where it hangs: its ids and, when it continues a trace, its parent's span
/// id and `tracestate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    pub ids: SpanIds,
    pub parent: Option<[u8; 8]>,
    pub tracestate: Option<String>,
}

impl Placed {
    /// A child of the span `context` names (a valid `traceparent`), else a new root.
    pub fn child_of(context: &TraceContext) -> Self {
        match context.traceparent.as_deref().and_then(SpanIds::parse) {
            Some(parent) => Self {
                ids: parent.child(),
                parent: Some(parent.span_id),
                tracestate: context.tracestate.clone(),
            },
            None => Self::root(),
        }
    }

    /// The first span of a new trace.
    pub fn root() -> Self {
        Self {
            ids: SpanIds::root(),
            parent: None,
            tracestate: None,
        }
    }

    /// The trace context of a hop this span causes (its children's parent).
    pub fn context(&self) -> TraceContext {
        self.ids.context(self.tracestate.as_deref())
    }
}

/// Where the span of invocation `key` of `worker` (`<component>/<worker>`) hangs, given
/// the trace context it arrived with. Deterministic: the span id is a hash of the worker
/// and the key; the trace is the parent's, else a hash of the same pair.
pub fn invocation_span(worker: &str, key: &str, arrived_with: &TraceContext) -> Placed {
    let digest = Sha256::new()
        .chain_update(b"revenant invocation span\0")
        .chain_update(worker.as_bytes())
        .chain_update(b"\0")
        .chain_update(key.as_bytes())
        .finalize();
    let mut span_id: [u8; 8] = digest[..8].try_into().expect("8 bytes");
    if span_id == [0; 8] {
        span_id[7] = 1;
    }
    match arrived_with.traceparent.as_deref().and_then(SpanIds::parse) {
        Some(parent) => Placed {
            ids: SpanIds { span_id, ..parent },
            parent: Some(parent.span_id),
            tracestate: arrived_with.tracestate.clone(),
        },
        None => {
            let mut trace_id: [u8; 16] = digest[8..24].try_into().expect("16 bytes");
            if trace_id == [0; 16] {
                trace_id[15] = 1;
            }
            Placed {
                ids: SpanIds {
                    trace_id,
                    span_id,
                    flags: SAMPLED,
                },
                parent: None,
                tracestate: None,
            }
        }
    }
}

/// What a span was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

/// A finished span, ready to be emitted.
#[derive(Debug, Clone)]
pub struct SpanRecord {
    pub name: String,
    pub kind: Kind,
    pub place: Placed,
    pub start: SystemTime,
    pub end: SystemTime,
    pub attributes: Vec<(&'static str, String)>,
    /// Spans this one was caused by, in other traces (span links).
    pub links: Vec<SpanIds>,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

impl SpanRecord {
    pub fn new(name: impl Into<String>, kind: Kind, place: Placed, start: SystemTime) -> Self {
        Self {
            name: name.into(),
            kind,
            place,
            start,
            end: SystemTime::now(),
            attributes: Vec::new(),
            links: Vec::new(),
            error: None,
        }
    }

    pub fn attr(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.attributes.push((key, value.into()));
        self
    }
}

/// A journaled time (ms since the epoch) as a `SystemTime`.
pub fn at_ms(ms: TimestampMs) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

fn span_context(ids: SpanIds, remote: bool, tracestate: Option<&str>) -> SpanContext {
    let state = tracestate
        .and_then(|s| s.parse::<TraceState>().ok())
        .unwrap_or_default();
    SpanContext::new(
        TraceId::from_bytes(ids.trace_id),
        SpanId::from_bytes(ids.span_id),
        TraceFlags::new(ids.flags),
        remote,
        state,
    )
}

/// Emits a finished span of `service` with exactly the ids in `span.place`. Does
/// nothing when that service's export is off.
pub fn emit(service: Service, span: SpanRecord) {
    let tracer = match service {
        Service::Router => ROUTER.get(),
        Service::Executor => EXECUTOR.get(),
    };
    let Some(tracer) = tracer else {
        return;
    };
    let place = &span.place;
    let parent = match place.parent {
        Some(parent_id) => {
            let parent = SpanIds {
                span_id: parent_id,
                ..place.ids
            };
            Context::new().with_remote_span_context(span_context(
                parent,
                true,
                place.tracestate.as_deref(),
            ))
        }
        None => Context::new(),
    };
    let kind = match span.kind {
        Kind::Internal => SpanKind::Internal,
        Kind::Server => SpanKind::Server,
        Kind::Client => SpanKind::Client,
        Kind::Producer => SpanKind::Producer,
        Kind::Consumer => SpanKind::Consumer,
    };
    let links = span
        .links
        .iter()
        .map(|l| Link::with_context(span_context(*l, true, None)))
        .collect();
    let builder = SpanBuilder::from_name(span.name)
        .with_kind(kind)
        .with_start_time(span.start)
        .with_attributes(
            span.attributes
                .into_iter()
                .map(|(k, v)| KeyValue::new(k, v)),
        )
        .with_links(links);
    FORCED_SPAN.with(|c| c.set(Some(place.ids.span_id)));
    FORCED_TRACE.with(|c| c.set(place.parent.is_none().then_some(place.ids.trace_id)));
    let mut built = tracer.build_with_context(builder, &parent);
    // Whatever the SDK did not take must not leak into the next span of this thread.
    FORCED_SPAN.with(Cell::take);
    FORCED_TRACE.with(Cell::take);
    if let Some(error) = span.error {
        built.set_status(Status::error(error));
    }
    built.end_with_timestamp(span.end);
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    fn arrived(traceparent: &str) -> TraceContext {
        TraceContext {
            traceparent: Some(traceparent.into()),
            tracestate: Some("rojo=00f067aa0ba902b7".into()),
        }
    }

    #[test]
    fn a_traceparent_round_trips_and_malformed_ones_are_refused() {
        let ids = SpanIds::parse(PARENT).expect("valid");
        assert_eq!(ids.traceparent(), PARENT);
        assert_eq!(ids.flags, 1);
        for bad in [
            "",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
            "xx-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ] {
            assert_eq!(SpanIds::parse(bad), None, "{bad}");
        }
        // A later version is read by its first four fields.
        assert!(SpanIds::parse(&format!("01{}-more", &PARENT[2..])).is_some());
    }

    #[test]
    fn an_invocation_span_id_depends_only_on_worker_and_key() {
        let a = invocation_span("c/w", "k1", &arrived(PARENT));
        let again = invocation_span("c/w", "k1", &arrived(PARENT));
        assert_eq!(a, again, "a re-run computes the same span");
        assert_ne!(
            a.ids.span_id,
            invocation_span("c/w", "k2", &arrived(PARENT)).ids.span_id
        );
        assert_ne!(
            a.ids.span_id,
            invocation_span("c/v", "k1", &arrived(PARENT)).ids.span_id
        );
        // The parent decides the trace, never the span id.
        let root = invocation_span("c/w", "k1", &TraceContext::default());
        assert_eq!(root.ids.span_id, a.ids.span_id);
    }

    #[test]
    fn an_invocation_continues_the_trace_it_arrived_with() {
        let parent = SpanIds::parse(PARENT).unwrap();
        let placed = invocation_span("c/w", "k", &arrived(PARENT));
        assert_eq!(placed.ids.trace_id, parent.trace_id);
        assert_eq!(placed.parent, Some(parent.span_id));
        assert_eq!(placed.tracestate.as_deref(), Some("rojo=00f067aa0ba902b7"));
        let hop = placed.context();
        assert_eq!(
            SpanIds::parse(hop.traceparent.as_deref().unwrap()),
            Some(placed.ids)
        );
        assert_eq!(hop.tracestate, placed.tracestate);
    }

    #[test]
    fn an_invocation_without_a_valid_parent_starts_a_trace_derived_from_worker_and_key() {
        let a = invocation_span("c/w", "k", &arrived("garbage"));
        let b = invocation_span("c/w", "k", &TraceContext::default());
        assert_eq!(a, b);
        assert_eq!(a.parent, None);
        assert_eq!(a.ids.flags & SAMPLED, SAMPLED);
        assert_ne!(a.ids.trace_id, [0; 16]);
    }

    #[test]
    fn a_host_call_is_a_child_with_a_fresh_id_and_a_send_starts_a_new_trace() {
        let invocation = invocation_span("c/w", "k", &arrived(PARENT));
        let call = Placed::child_of(&invocation.context());
        assert_eq!(call.ids.trace_id, invocation.ids.trace_id);
        assert_eq!(call.parent, Some(invocation.ids.span_id));
        assert_ne!(call.ids.span_id, invocation.ids.span_id);
        let send = Placed::root();
        assert_ne!(send.ids.trace_id, invocation.ids.trace_id);
        assert_eq!(send.parent, None);
        assert_eq!(Placed::child_of(&TraceContext::default()).parent, None);
    }

    #[test]
    fn nothing_is_built_while_export_is_off() {
        // With no exporter installed `emit` returns before touching the forced ids.
        let span = SpanRecord::new("x", Kind::Internal, Placed::root(), SystemTime::now());
        emit(Service::Executor, span);
        assert_eq!(take_forced_span_id(), None);
        assert_eq!(take_forced_trace_id(), None);
    }
}
