//! What a mailbox runs: an invocation message from the shard, an invocation
//! parked in the oplog while the worker was suspended, or the tail a worker was
//! running when it was last dropped. They differ in where their arguments come
//! from and whether there is a message to acknowledge; [`Invocation`] gives the
//! mailbox one view of all three.

use revenant_nats::invocations::InvocationMessage;
use revenant_types::oplog::{CallerRecord, TraceContext};

use crate::decide::Arrival;
use crate::replay::{ParkedInvocation, ReplayInvocation};

/// The tail invocation of a worker (see [`crate::worker::Worker::tail`]).
#[derive(Debug, Clone)]
pub(crate) struct Tail {
    pub key: String,
    pub function: String,
    pub reply_to: Option<String>,
    pub caller: Option<CallerRecord>,
    /// The trace context it arrived with (its result carries its span's).
    pub trace: TraceContext,
}

impl Tail {
    pub(crate) fn of(tail: &ReplayInvocation) -> Self {
        Self {
            key: tail.idempotency_key.clone(),
            function: tail.function.clone(),
            reply_to: tail.reply_to.clone(),
            trace: tail.trace.clone(),
            caller: tail.caller.clone(),
        }
    }
}

// Messages are the common case; boxing them to shrink the enum is not worth an allocation.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Invocation {
    Message(InvocationMessage),
    Parked(ParkedInvocation),
    Tail(Tail),
}

impl Invocation {
    pub(crate) fn key(&self) -> &str {
        match self {
            Self::Message(m) => &m.idempotency_key,
            Self::Parked(p) => &p.idempotency_key,
            Self::Tail(t) => &t.key,
        }
    }

    /// The requested function (as the caller named it; the tail's is the full name).
    pub(crate) fn function(&self) -> Option<&str> {
        match self {
            Self::Message(m) => m.function.as_deref(),
            Self::Parked(p) => Some(&p.function),
            Self::Tail(t) => Some(&t.function),
        }
    }

    pub(crate) fn reply_to(&self) -> Option<&str> {
        match self {
            Self::Message(m) => m.reply_to.as_deref(),
            Self::Parked(p) => p.reply_to.as_deref(),
            Self::Tail(t) => t.reply_to.as_deref(),
        }
    }

    /// The worker awaiting its outcome in its inbox (an RPC caller), if any.
    pub(crate) fn caller(&self) -> Option<&CallerRecord> {
        match self {
            Self::Message(m) => m.caller.as_ref().ok().and_then(Option::as_ref),
            Self::Parked(p) => p.caller.as_ref(),
            Self::Tail(t) => t.caller.as_ref(),
        }
    }

    pub(crate) fn content_type(&self) -> Option<&str> {
        match self {
            Self::Message(m) => m.content_type.as_deref(),
            Self::Parked(p) => p.content_type.as_deref(),
            Self::Tail(_) => None,
        }
    }

    pub(crate) fn body(&self) -> &[u8] {
        match self {
            Self::Message(m) => &m.body,
            Self::Parked(p) => &p.body,
            Self::Tail(_) => &[],
        }
    }

    pub(crate) fn trace(&self) -> TraceContext {
        match self {
            Self::Message(m) => m.trace.clone(),
            Self::Parked(p) => p.trace.clone(),
            Self::Tail(t) => t.trace.clone(),
        }
    }

    /// The message to acknowledge, if there is one.
    pub(crate) fn message(&self) -> Option<&InvocationMessage> {
        match self {
            Self::Message(m) => Some(m),
            _ => None,
        }
    }

    /// What the invocation decision knows of it.
    pub(crate) fn arrival(&self) -> Arrival<'_> {
        let (body_len, stream_sequence) = match self {
            Self::Message(m) => (m.body.len(), m.stream_sequence),
            Self::Parked(p) => (p.body.len(), p.stream_sequence),
            Self::Tail(_) => (0, 0),
        };
        Arrival {
            key: self.key(),
            body_len,
            stream_sequence,
        }
    }
}

/// A message parked while its worker is suspended (the oplog keeps it; the message is acked).
pub(crate) fn parked(msg: &InvocationMessage) -> ParkedInvocation {
    ParkedInvocation {
        idempotency_key: msg.idempotency_key.clone(),
        function: msg.function.clone().unwrap_or_default(),
        body: msg.body.to_vec(),
        content_type: msg.content_type.clone(),
        reply_to: msg.reply_to.clone(),
        trace: msg.trace.clone(),
        stream_sequence: msg.stream_sequence,
        caller: msg.caller.clone().ok().flatten(),
    }
}

/// What a message is ([`crate::decide::kind_of`] over its headers); a message whose
/// `Rvn-Caller` or `Rvn-Call-Chain` is malformed is an invalid message too.
pub(crate) fn kind(
    msg: &InvocationMessage,
) -> Result<crate::decide::Kind, revenant_types::oplog::ErrorBody> {
    use revenant_nats::headers;
    if let Err(message) = &msg.caller {
        return Err(revenant_types::oplog::ErrorBody::new(
            revenant_types::ErrorKind::InvalidMessage,
            message.clone(),
        ));
    }
    let h = crate::decide::KindHeaders {
        kind: msg.header(headers::KIND),
        timer: msg.header(headers::TIMER),
        promise: msg.header(headers::PROMISE),
        correlation: msg.header(headers::CORRELATION),
    };
    crate::decide::kind_of(h, msg.worker.as_ref().ok())
}

/// What a completion message carries for its waiter: a promise's payload (the body),
/// or a call's outcome (from `Rvn-Status` and the body) as JSON.
pub(crate) fn completion_payload(msg: &InvocationMessage, kind: crate::decide::Kind) -> Vec<u8> {
    match kind {
        crate::decide::Kind::Result(_) => crate::decide::encode_outcome(&msg.outcome()),
        _ => msg.body.to_vec(),
    }
}
