//! Invocations on the wire: publishing them (CLI, router, the call bridge),
//! consuming a shard's invocations (executors), replies, dead letters, the
//! `call` request/reply bridge and worker events.
//!
//! Shard consumers are durable pull consumers named `shard-<n>` filtered on
//! `<ns>.invoke.<n>.*.*`. Taking a shard never deletes or rewinds its
//! consumer: it is created when missing (from the start of the stream) and
//! otherwise kept, with its ack floor and its pending set, and only its
//! adjustable settings (`max_ack_pending`, `max_deliver`) brought to the
//! configured values. So invocations acknowledged by an earlier owner are never
//! delivered again, however far back an old unacknowledged one holds the ack
//! floor. What the previous owner held unacknowledged is redelivered at once:
//! the new owner briefly lowers the consumer's ack wait (the server then checks
//! its pending set within 100 ms and queues every expired message for
//! redelivery) and restores it before it pulls (`redeliver_pending`). Before
//! that it waits until the previous owner's pull requests (if it is frozen
//! rather than dead) have lapsed: they live [`PULL_EXPIRES`] at most. JetStream
//! redelivers them in the order they were queued (naks, failed deliveries), not
//! the order they arrived: the new owner gathers them first and hands them out
//! in stream order ([`in_stream_order`]), so a worker's invocations keep their
//! order across the takeover. An owner whose deliveries were lost on the way (a
//! connection dropped with them, the server restarted) takes its shard's consumer the
//! same way again before it runs anything delivered after them ([`crate::deliveries`]).
//!
//! The idempotency key of a stored invocation is [`idempotency_key`]'s: the
//! first of `Nats-Msg-Id`, `Rvn-Idempotency-Key`,
//! `<Nats-Scheduler>@<Nats-Schedule-Next>` (a fired schedule) and
//! `seq-<stream sequence>` (ARCHITECTURE.md "Idempotency keys belong to a worker").
//!
//! A dead letter keeps the invocation's headers, except that every `Nats-*`
//! header (message id, TTL, expected sequences, schedules, …) is renamed
//! `Rvn-Original-Nats-*`: JetStream would act on them, and could refuse or
//! deduplicate the dead letter itself ([`dead_letter_headers`]). Results, RPC results
//! and dead letters are published by `answers`.

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, AckKind, consumer};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use revenant_types::WorkerId;
use revenant_types::oplog::{CallerRecord, InvocationOutcome, TraceContext};

use crate::error::{Error, Result};
use crate::{Nats, headers};

mod answers;

pub use answers::{ORIGINAL_PREFIX, dead_letter_headers};

/// How long a shard consumer waits for an executor's ack before redelivering an
/// invocation. Executors report longer work in progress (see `in_progress`), so this
/// bounds only how long a lost ack or nak (e.g. while a stream's leader is being
/// elected) delays the invocation.
pub const ACK_WAIT: Duration = Duration::from_secs(10);

/// An invocation to publish.
#[derive(Debug, Clone, Default)]
pub struct InvocationRequest {
    pub function: String,
    /// `Nats-Msg-Id`; executors use the stream sequence when absent (see [`idempotency_key`]).
    pub idempotency_key: Option<String>,
    pub reply_to: Option<String>,
    pub content_type: Option<String>,
    pub body: Bytes,
    pub trace: TraceContext,
    /// The worker awaiting the outcome in its inbox (worker-to-worker RPC).
    pub caller: Option<CallerRecord>,
    /// The subscription whose forwarder publishes it (`Rvn-Subscription`).
    pub subscription: Option<String>,
    /// Index the result by key before the ack (`Rvn-Result-Index`, see [`headers::RESULT_INDEX`]).
    pub index: bool,
}

impl InvocationRequest {
    fn headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(headers::FUNCTION, self.function.as_str());
        if let Some(k) = &self.idempotency_key {
            h.insert(headers::MSG_ID, k.as_str());
        }
        if let Some(r) = &self.reply_to {
            h.insert(headers::REPLY_TO, r.as_str());
        }
        if let Some(c) = &self.content_type {
            h.insert(headers::CONTENT_TYPE, c.as_str());
        }
        insert_trace(&mut h, &self.trace);
        if let Some(s) = &self.subscription {
            h.insert(headers::SUBSCRIPTION, s.as_str());
        }
        if self.index {
            h.insert(headers::RESULT_INDEX, "1");
        }
        if let Some(caller) = &self.caller {
            h.insert(headers::CALLER, caller.worker.as_str());
            if !caller.chain.is_empty() {
                h.insert(headers::CALL_CHAIN, caller.chain.join(",").as_str());
            }
        }
        h
    }
}

/// The caller of an invocation from its `Rvn-Caller` and `Rvn-Call-Chain` headers;
/// `Err` says what was wrong with them.
pub fn caller_of(
    caller: Option<&str>,
    chain: Option<&str>,
) -> std::result::Result<Option<CallerRecord>, String> {
    let Some(caller) = caller else {
        return Ok(None);
    };
    let worker = |w: &str, header: &str| {
        WorkerId::parse_path(w.trim())
            .map(|id| id.to_string())
            .map_err(|e| format!("{header} {w:?} is not <component>/<worker>: {e}"))
    };
    let chain = chain
        .unwrap_or_default()
        .split(',')
        .filter(|w| !w.trim().is_empty())
        .map(|w| worker(w, headers::CALL_CHAIN))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(Some(CallerRecord {
        worker: worker(caller, headers::CALLER)?,
        chain,
    }))
}

/// JetStream's answer to an invocation publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// The stream sequence (of the original message, for a duplicate).
    pub sequence: u64,
    /// A message with the same idempotency key is already in the stream: this one was not stored.
    pub duplicate: bool,
}

/// One invocation message taken from a shard.
#[derive(Debug)]
pub struct InvocationMessage {
    /// The worker, or the reason the subject does not name a valid one.
    pub worker: std::result::Result<WorkerId, String>,
    pub function: Option<String>,
    /// Its key: see [`idempotency_key`].
    pub idempotency_key: String,
    pub reply_to: Option<String>,
    pub content_type: Option<String>,
    pub trace: TraceContext,
    /// The worker awaiting the outcome (`Rvn-Caller`), or what is wrong with the header.
    pub caller: std::result::Result<Option<CallerRecord>, String>,
    pub body: Bytes,
    pub stream_sequence: u64,
    /// How many times the shard consumer has delivered it, this delivery included (1 = first).
    pub delivered: u64,
    /// The shard it was stored under, when the subject is well-formed.
    pub shard: Option<u32>,
    /// When this executor received it (for latency metrics).
    pub received: std::time::Instant,
    /// Why the ingress rules refuse it, if they do ([`crate::ingress`]); `reply_to` is
    /// then `None` unless the reply subject itself passed.
    pub refused: Option<Box<crate::ingress::Refusal>>,
    message: jetstream::Message,
}

fn header(h: Option<&HeaderMap>, name: &str) -> Option<String> {
    h.and_then(|h| h.get(name))
        .map(|v| v.as_str().to_owned())
        .filter(|v| !v.is_empty())
}

/// The key that dedups a stored invocation (ARCHITECTURE.md "Idempotency keys belong
/// to a worker"): the first of `Nats-Msg-Id`; `Rvn-Idempotency-Key` (it survives
/// message schedules, which strip `Nats-Msg-Id` from the copy they fire);
/// `<Nats-Scheduler>@<Nats-Schedule-Next>` for a fired schedule without one (each
/// firing its own key); `seq-<stream sequence>`.
pub fn idempotency_key(
    msg_id: Option<String>,
    rvn_key: Option<String>,
    schedule: Option<(String, String)>,
    stream_sequence: u64,
) -> String {
    msg_id
        .or(rvn_key)
        .or_else(|| schedule.map(|(scheduler, next)| format!("{scheduler}@{next}")))
        .unwrap_or_else(|| format!("seq-{stream_sequence}"))
}

/// How a shard consumer is set up: the settings an executor brings an existing one to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardConsumer {
    /// Invocations delivered and not yet acknowledged, at most.
    pub max_ack_pending: usize,
    /// Deliveries of one invocation, at most (`max_deliver`); the executor dead-letters
    /// an invocation on its last one instead of trying it again.
    pub max_deliver: u32,
}

impl InvocationMessage {
    fn new(nats: &Nats, message: jetstream::Message) -> Self {
        let (stream_sequence, delivered) = message
            .info()
            .map(|i| (i.stream_sequence, u64::try_from(i.delivered).unwrap_or(1)))
            .unwrap_or((0, 1));
        let h = message.headers.as_ref();
        let parsed = nats
            .namespace()
            .parse_stored_invoke_subject(&message.subject);
        let shard = parsed.as_ref().map(|(s, _)| *s);
        let worker = parsed.map(|(_, w)| w).ok_or_else(|| {
                format!(
                    "subject {:?} does not name a worker; expected <ns>.invoke.<component>.<worker> with names of [A-Za-z0-9_-]{{1,128}}",
                    message.subject.as_str()
                )
            });
        let reply_to = header(h, headers::REPLY_TO);
        let refused = crate::ingress::check_invocation(nats.namespace(), h, reply_to.as_deref())
            .err()
            .map(Box::new);
        let reply_to = reply_to.filter(|_| refused.as_ref().is_none_or(|r| r.reply_usable));
        Self {
            worker,
            function: header(h, headers::FUNCTION),
            idempotency_key: idempotency_key(
                header(h, headers::MSG_ID),
                header(h, headers::IDEMPOTENCY_KEY),
                header(h, headers::SCHEDULER).zip(header(h, headers::SCHEDULE_NEXT)),
                stream_sequence,
            ),
            reply_to,
            content_type: header(h, headers::CONTENT_TYPE),
            trace: TraceContext {
                traceparent: header(h, headers::TRACEPARENT),
                tracestate: header(h, headers::TRACESTATE),
            },
            caller: caller_of(
                header(h, headers::CALLER).as_deref(),
                header(h, headers::CALL_CHAIN).as_deref(),
            ),
            body: message.payload.clone(),
            stream_sequence,
            delivered,
            shard,
            received: std::time::Instant::now(),
            refused,
            message,
        }
    }

    /// A header of the message, when present and not empty (e.g. `Rvn-Kind`).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.message
            .headers
            .as_ref()
            .and_then(|h| h.get(name))
            .map(|v| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// The message read as a result (`Rvn-Kind: result`): its status and body.
    pub fn outcome(&self) -> InvocationOutcome {
        crate::reply::parse_reply(self.message.headers.as_ref(), &self.body)
    }

    /// When JetStream stored the message (ms since the epoch): for a fired schedule,
    /// when the server fired it.
    pub fn stored_at_ms(&self) -> Option<u64> {
        let info = self.message.info().ok()?;
        u64::try_from(info.published.unix_timestamp_nanos() / 1_000_000).ok()
    }

    /// The subject the message was stored under.
    pub fn subject(&self) -> &str {
        self.message.subject.as_str()
    }

    /// Done: the invocation is answered and its outcome durable.
    pub async fn ack(&self) -> Result<()> {
        self.message
            .ack()
            .await
            .map_err(|e| Error::nats("ack invocation", e))
    }

    /// Never redeliver (a rejected invocation, already answered and dead-lettered).
    pub async fn term(&self) -> Result<()> {
        self.message
            .ack_with(AckKind::Term)
            .await
            .map_err(|e| Error::nats("terminate invocation", e))
    }

    /// Still working on it: resets the ack wait.
    pub async fn in_progress(&self) -> Result<()> {
        self.message
            .ack_with(AckKind::Progress)
            .await
            .map_err(|e| Error::nats("progress invocation", e))
    }

    /// Redeliver after `delay`.
    pub async fn nak(&self, delay: Duration) -> Result<()> {
        self.message
            .ack_with(AckKind::Nak(Some(delay)))
            .await
            .map_err(|e| Error::nats("nak invocation", e))
    }
}

/// A request on `<ns>.call.<component>.<worker>`.
#[derive(Debug)]
pub struct CallRequest {
    pub worker: std::result::Result<WorkerId, String>,
    pub request: InvocationRequest,
    /// The requester's inbox.
    pub reply: Option<String>,
    /// Why the ingress rules refuse it, if they do ([`crate::ingress`]); `reply` is
    /// then `None` unless the reply subject itself passed.
    pub refused: Option<Box<crate::ingress::Refusal>>,
    /// The subject and headers it came with (for its dead letter).
    pub subject: String,
    pub headers: Option<HeaderMap>,
}

impl Nats {
    /// Publishes an invocation to `<ns>.invoke.<component>.<worker>`.
    ///
    /// When JetStream reports a duplicate (same `Nats-Msg-Id` within the dedup
    /// window) nothing was stored and no executor will answer this publish's
    /// `Rvn-Reply-To`: the result arrives in `RVN_RESULTS` under the key
    /// ([`Nats::watch_result`]), which is what every caller must wait on then.
    pub async fn publish_invocation(
        &self,
        w: &WorkerId,
        req: &InvocationRequest,
    ) -> Result<Published> {
        let ack = self
            .jetstream()
            .publish_with_headers(
                self.namespace().invoke_subject(w),
                req.headers(),
                req.body.clone(),
            )
            .await
            .map_err(|e| Error::nats("publish invocation", e))?
            .await
            .map_err(|e| Error::nats("publish invocation", e))?;
        Ok(Published {
            sequence: ack.sequence,
            duplicate: ack.duplicate,
        })
    }

    /// The sequence of the last message stored in `RVN_INVOKE` (0 when it has none):
    /// every invocation published before this call has this sequence or a lower one.
    pub async fn invoke_last_sequence(&self) -> Result<u64> {
        let stream = self
            .jetstream()
            .get_stream_no_info(self.namespace().invoke_stream())
            .await
            .map_err(|e| Error::nats("get invoke stream", e))?;
        let info = stream
            .get_info()
            .await
            .map_err(|e| Error::nats("read the invoke stream's last sequence", e))?;
        Ok(info.state.last_sequence)
    }

    /// Takes over a shard's consumer (see the module docs) and returns its messages.
    pub async fn shard_messages(
        &self,
        shard: u32,
        settings: ShardConsumer,
    ) -> Result<impl Stream<Item = Result<InvocationMessage>> + Send + 'static> {
        let stream = self
            .jetstream()
            .get_stream(self.namespace().invoke_stream())
            .await
            .map_err(|e| Error::nats("get invoke stream", e))?;
        let name = consumer_name(shard);
        let existing = match stream.consumer_info(&name).await {
            Ok(info) => Some(info),
            Err(e) if consumer_missing(&e) => None,
            // Never guess a start position: an unreadable consumer is retried by the caller.
            Err(e) => return Err(Error::nats("read shard consumer", e)),
        };
        let config = shard_consumer_config(
            name,
            self.namespace().invoke_shard_filter(shard),
            settings,
            existing.as_ref().map(|i| &i.config),
        );
        stream
            .create_consumer(config.clone())
            .await
            .map_err(|e| Error::nats("create or update shard consumer", e))?;
        let nats = self.clone();
        let messages = self
            .take_over(
                &stream,
                self.namespace().invoke_stream(),
                config,
                existing.is_some(),
            )
            .await?
            .map(move |m| m.map(|m| InvocationMessage::new(&nats, m)));
        Ok(messages)
    }

    /// Takes over the durable pull consumer `config` names on `stream` (created or brought
    /// to `config` already; `existing` when it was there before) and returns its messages,
    /// taken through the intake connection: what an earlier reader left unacknowledged
    /// first, gathered and put back in stream order (see the module docs), then the rest.
    pub(crate) async fn take_over(
        &self,
        stream: &jetstream::stream::Stream,
        stream_name: String,
        config: consumer::pull::Config,
        existing: bool,
    ) -> Result<impl Stream<Item = Result<jetstream::Message>> + Send + 'static + use<>> {
        let name = config.durable_name.clone().unwrap_or_default();
        let (pending, others_pulling) = if existing {
            let (info, others_pulling) = others_stopped_pulling(stream, &name).await?;
            (info.num_ack_pending, others_pulling)
        } else {
            (0, false)
        };
        // While another reader still pulls (a previous owner that is alive, e.g. one that
        // could not renew its lease while NATS was away), a short ack wait would expire
        // its deliveries over and over (each a delivery towards `max_deliver`): what it
        // holds comes back after the normal ack wait instead.
        if pending > 0 && !others_pulling {
            redeliver_pending(stream, config).await?;
        }
        // Taken through the intake connection (see `Nats::intake`).
        let consumer: consumer::PullConsumer = self
            .intake()
            .await?
            .get_consumer_from_stream(name.clone(), stream_name)
            .await
            .map_err(|e| Error::nats("open the consumer for intake", e))?;
        let messages = consumer
            .stream()
            .expires(PULL_EXPIRES)
            .heartbeat(PULL_HEARTBEAT)
            .max_bytes_per_batch(self.pull_bytes())
            .messages()
            .await
            .map_err(|e| Error::nats("consume", e))?
            .map(|m| m.map_err(|e| Error::nats("receive a message", e)));
        // Read from the middle of its deliveries; it ends where deliveries were lost.
        let mut messages = Box::pin(crate::deliveries::in_sequence(name.clone(), None, messages));
        // What the previous owner held comes first, in whatever order JetStream queued it
        // for redelivery (naks, failed deliveries): gathered and put back in stream order,
        // so each worker's messages keep their arrival order across the takeover.
        let mut taken_over = Vec::new();
        let deadline = tokio::time::Instant::now() + TAKEOVER_GATHER;
        let info = |m: &jetstream::Message| {
            m.info()
                .map(|i| (i.stream_sequence, i.delivered))
                .unwrap_or((0, 1))
        };
        while taken_over.len() < pending {
            match tokio::time::timeout_at(deadline, messages.next()).await {
                Ok(Some(Ok(m))) => {
                    let fresh = info(&m).1 <= 1;
                    taken_over.push(m);
                    if fresh {
                        break;
                    }
                }
                Ok(Some(Err(e))) => tracing::warn!(consumer = %name, error = %e, "consumer error"),
                // Deliveries lost while gathering: what was gathered comes again, in order,
                // when the reader takes the consumer again (the stream has ended).
                Ok(None) => {
                    taken_over.clear();
                    break;
                }
                Err(_) => break,
            }
        }
        let taken_over = in_stream_order(taken_over, |m| info(m).0)
            .into_iter()
            .map(Ok);
        Ok(futures::stream::iter(taken_over).chain(messages))
    }

    /// Subscribes (queue group `executors`) to `<ns>.call.*.*`.
    pub async fn call_requests(&self) -> Result<impl Stream<Item = CallRequest> + Send + 'static> {
        // Through the intake connection (see `Nats::intake`): a request the client
        // cannot parse drops that one, not the executor's main connection.
        let sub = self
            .intake()
            .await?
            .client()
            .queue_subscribe(self.namespace().call_wildcard(), "executors".into())
            .await
            .map_err(|e| Error::nats("subscribe to calls", e))?;
        let ns = self.namespace().clone();
        Ok(sub.map(move |m| {
            let h = m.headers.as_ref();
            let worker = ns.parse_call_subject(&m.subject).ok_or_else(|| {
                format!(
                    "subject {:?} does not name a worker; expected <ns>.call.<component>.<worker> with names of [A-Za-z0-9_-]{{1,128}}",
                    m.subject.as_str()
                )
            });
            let reply = m.reply.as_ref().map(|r| r.to_string());
            let refused = crate::ingress::check_invocation(&ns, h, reply.as_deref())
                .err()
                .map(Box::new);
            let reply = reply.filter(|_| refused.as_ref().is_none_or(|r| r.reply_usable));
            CallRequest {
                worker,
                request: InvocationRequest {
                    function: header(h, headers::FUNCTION).unwrap_or_default(),
                    idempotency_key: header(h, headers::MSG_ID)
                        .or_else(|| header(h, headers::IDEMPOTENCY_KEY)),
                    reply_to: reply.clone(),
                    content_type: header(h, headers::CONTENT_TYPE),
                    body: m.payload.clone(),
                    trace: TraceContext {
                        traceparent: header(h, headers::TRACEPARENT),
                        tracestate: header(h, headers::TRACESTATE),
                    },
                    caller: None,
                    subscription: None,
                    index: false,
                },
                reply,
                refused,
                subject: m.subject.to_string(),
                headers: m.headers.clone(),
            }
        }))
    }

    /// Publishes a worker event (JSON) on `<ns>.events.<component>.<worker>`.
    pub async fn publish_event(&self, w: &WorkerId, json: Vec<u8>) -> Result<()> {
        self.client()
            .publish(self.namespace().events_subject(w), json.into())
            .await
            .map_err(|e| Error::nats("publish event", e))
    }

    /// Subscribes to a worker's events.
    pub async fn subscribe_events(
        &self,
        w: &WorkerId,
    ) -> Result<impl Stream<Item = Bytes> + Send + 'static> {
        let sub = self
            .client()
            .subscribe(self.namespace().events_subject(w))
            .await
            .map_err(|e| Error::nats("subscribe to events", e))?;
        Ok(sub.map(|m| m.payload))
    }

    /// Flushes the connection (so replies and events are on the wire).
    pub async fn flush(&self) -> Result<()> {
        self.client()
            .flush()
            .await
            .map_err(|e| Error::nats("flush", e))
    }
}

/// How long one pull request of a shard consumer lives. A frozen or partitioned previous
/// owner keeps pull requests open on the consumer; the server would hand them new and
/// redelivered invocations (to sit there for the ack wait), so a new owner first waits
/// until no other pull request is left, which takes at most this long.
pub const PULL_EXPIRES: Duration = Duration::from_secs(2);
const PULL_HEARTBEAT: Duration = Duration::from_millis(500);

/// `shard-<n>`: the durable consumer of shard `n`.
pub(crate) fn consumer_name(shard: u32) -> String {
    format!("shard-{shard}")
}

/// Waits until the consumer has no pull request waiting (any is another owner's: this
/// one has not pulled yet), at most [`PULL_EXPIRES`] and a margin; returns its info then,
/// and whether another reader was still pulling at the deadline.
async fn others_stopped_pulling(
    stream: &jetstream::stream::Stream,
    name: &str,
) -> Result<(consumer::Info, bool)> {
    let deadline = tokio::time::Instant::now() + PULL_EXPIRES + Duration::from_millis(500);
    loop {
        let info = stream
            .consumer_info(name)
            .await
            .map_err(|e| Error::nats("read shard consumer", e))?;
        if info.num_waiting == 0 {
            return Ok((info, false));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok((info, true));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How long the ack wait is while a new owner has the previous owner's pending
/// invocations queued for redelivery, and how long it waits for the server's check.
const TAKEOVER_ACK_WAIT: Duration = Duration::from_millis(1);
const TAKEOVER_CHECK: Duration = Duration::from_millis(300);
/// How long a new owner waits for the previous owner's invocations to be redelivered.
const TAKEOVER_GATHER: Duration = Duration::from_secs(1);

/// What a new owner gathered at takeover, sorted by stream sequence (each worker's
/// arrival order); `sequence` reads it.
pub fn in_stream_order<T>(mut taken_over: Vec<T>, sequence: impl Fn(&T) -> u64) -> Vec<T> {
    taken_over.sort_by_key(sequence);
    taken_over
}

/// Queues what the previous owner of a shard left unacknowledged for redelivery now,
/// not after the ack wait: the ack wait is lowered (the server re-checks the pending set
/// 100 ms after an ack-wait change), then restored before anything is pulled, so this
/// owner's own deliveries keep the full ack wait. When the server checks late, they come
/// after the ack wait as before: slower, never lost or repeated.
async fn redeliver_pending(
    stream: &jetstream::stream::Stream,
    config: consumer::pull::Config,
) -> Result<()> {
    let short = consumer::pull::Config {
        ack_wait: TAKEOVER_ACK_WAIT,
        ..config.clone()
    };
    stream
        .create_consumer(short)
        .await
        .map_err(|e| Error::nats("shorten the shard consumer's ack wait", e))?;
    tokio::time::sleep(TAKEOVER_CHECK).await;
    stream
        .create_consumer(config)
        .await
        .map_err(|e| Error::nats("restore the shard consumer's ack wait", e))?;
    Ok(())
}

/// Whether a consumer lookup failed because the consumer does not exist.
fn consumer_missing(e: &async_nats::jetstream::context::ConsumerInfoError) -> bool {
    use async_nats::jetstream::context::ConsumerInfoErrorKind as K;
    match e.kind() {
        K::NotFound => true,
        K::JetStream(j) => j.error_code() == async_nats::jetstream::ErrorCode::CONSUMER_NOT_FOUND,
        _ => false,
    }
}

/// The configuration a shard consumer is created with or brought to: fixed settings,
/// the configured limits, and for an existing consumer its own start position (JetStream
/// cannot change it, and a consumer made by an older Revenant may start elsewhere).
/// A new one starts at the beginning of the stream.
pub fn shard_consumer_config(
    name: String,
    filter_subject: String,
    settings: ShardConsumer,
    existing: Option<&consumer::Config>,
) -> consumer::pull::Config {
    consumer::pull::Config {
        durable_name: Some(name),
        filter_subject,
        ack_policy: consumer::AckPolicy::Explicit,
        ack_wait: ACK_WAIT,
        max_ack_pending: settings.max_ack_pending as i64,
        max_deliver: i64::from(settings.max_deliver.max(1)),
        deliver_policy: existing.map_or(consumer::DeliverPolicy::All, |c| c.deliver_policy),
        ..Default::default()
    }
}

/// Sets `traceparent` / `tracestate` of `h` from `trace` (those it has).
pub(crate) fn insert_trace(h: &mut HeaderMap, trace: &TraceContext) {
    if let Some(t) = &trace.traceparent {
        h.insert(headers::TRACEPARENT, t.as_str());
    }
    if let Some(t) = &trace.tracestate {
        h.insert(headers::TRACESTATE, t.as_str());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use revenant_types::oplog::ErrorBody;

    #[test]
    fn the_key_is_the_first_of_msg_id_rvn_key_schedule_firing_and_sequence() {
        let s = |v: &str| Some(v.to_owned());
        let firing = Some((
            "rvn.schedule.c.w.c-daily".to_owned(),
            "2026-01-01T00:00:00Z".to_owned(),
        ));
        assert_eq!(idempotency_key(s("m"), s("r"), firing.clone(), 7), "m");
        assert_eq!(idempotency_key(None, s("r"), firing.clone(), 7), "r");
        assert_eq!(
            idempotency_key(None, None, firing, 7),
            "rvn.schedule.c.w.c-daily@2026-01-01T00:00:00Z"
        );
        assert_eq!(idempotency_key(None, None, None, 7), "seq-7");
    }

    #[test]
    fn what_a_takeover_gathered_goes_out_in_stream_order() {
        // Redelivered as queued (a nak, then a delivery that failed), then a fresh one.
        let gathered = vec![(3, "echo"), (2, "busy"), (7, "new")];
        assert_eq!(
            in_stream_order(gathered, |(seq, _)| *seq),
            vec![(2, "busy"), (3, "echo"), (7, "new")]
        );
    }

    #[test]
    fn a_dead_letter_renames_every_nats_header_and_keeps_the_others() {
        let mut original = HeaderMap::new();
        original.insert(headers::MSG_ID, "k1");
        original.insert(headers::MSG_TTL, "1h");
        original.insert(headers::EXPECTED_LAST_SUBJECT_SEQUENCE, "0");
        original.insert("nats-expected-stream", "RVN_INVOKE");
        original.insert(headers::FUNCTION, "add");
        let error = ErrorBody::new(revenant_types::ErrorKind::UnknownFunction, "no\nsuch");
        let h = dead_letter_headers(Some(&original), &error, "rvn.invoke.3.c.w");
        for name in [
            headers::MSG_ID,
            headers::MSG_TTL,
            headers::EXPECTED_LAST_SUBJECT_SEQUENCE,
            "nats-expected-stream",
        ] {
            assert!(h.get(name).is_none(), "{name} is still there");
        }
        assert_eq!(
            h.get("Rvn-Original-Nats-Msg-Id").map(|v| v.as_str()),
            Some("k1")
        );
        assert_eq!(
            h.get("Rvn-Original-Nats-TTL").map(|v| v.as_str()),
            Some("1h")
        );
        assert_eq!(h.get(headers::FUNCTION).map(|v| v.as_str()), Some("add"));
        assert_eq!(
            h.get(headers::ERROR_KIND).map(|v| v.as_str()),
            Some("unknown-function")
        );
        assert_eq!(
            h.get(headers::ERROR_MESSAGE).map(|v| v.as_str()),
            Some("no such")
        );
        assert_eq!(
            h.get(headers::ORIGINAL_SUBJECT).map(|v| v.as_str()),
            Some("rvn.invoke.3.c.w")
        );
    }

    #[test]
    fn a_taken_over_consumer_keeps_its_start_and_gets_the_configured_limits() {
        let settings = ShardConsumer {
            max_ack_pending: 64,
            max_deliver: 11,
        };
        let new =
            shard_consumer_config("shard-1".into(), "rvn.invoke.1.*.*".into(), settings, None);
        assert_eq!(new.deliver_policy, consumer::DeliverPolicy::All);
        assert_eq!(
            (new.max_ack_pending, new.max_deliver, new.ack_wait),
            (64, 11, ACK_WAIT)
        );
        let old = consumer::Config {
            deliver_policy: consumer::DeliverPolicy::ByStartSequence { start_sequence: 42 },
            max_deliver: -1,
            ..Default::default()
        };
        let kept = shard_consumer_config(
            "shard-1".into(),
            "rvn.invoke.1.*.*".into(),
            settings,
            Some(&old),
        );
        assert_eq!(
            kept.deliver_policy,
            consumer::DeliverPolicy::ByStartSequence { start_sequence: 42 }
        );
        assert_eq!(kept.max_deliver, 11);
    }
}
