//! Invocations on the wire: publishing them (CLI, router, the call bridge),
//! consuming a shard's invocations (executors), replies, dead letters, the
//! `call` request/reply bridge and worker events.
//!
//! Shard consumers are durable pull consumers named `shard-<n>` filtered on
//! `<ns>.invoke.<n>.*.*`. When an executor takes a shard it recreates that
//! consumer starting right after the old one's ack floor, so invocations the
//! previous owner left unacknowledged are delivered at once instead of after
//! the ack wait; redelivered duplicates are answered from the oplog.

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, AckKind, consumer};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use revenant_types::WorkerId;
use revenant_types::oplog::{ErrorBody, TraceContext};

use crate::error::{Error, Result};
use crate::{Nats, headers};

/// How long a shard consumer waits for an executor's ack before redelivering an
/// invocation. Executors report longer work in progress (see `in_progress`), so this
/// bounds only how long a lost ack or nak (e.g. while a stream's leader is being
/// elected) delays the invocation.
pub const ACK_WAIT: Duration = Duration::from_secs(10);

/// An invocation to publish.
#[derive(Debug, Clone, Default)]
pub struct InvocationRequest {
    pub function: String,
    /// `Nats-Msg-Id`; executors use the stream sequence when absent.
    pub idempotency_key: Option<String>,
    pub reply_to: Option<String>,
    pub content_type: Option<String>,
    pub body: Bytes,
    pub trace: TraceContext,
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
        if let Some(t) = &self.trace.traceparent {
            h.insert(headers::TRACEPARENT, t.as_str());
        }
        if let Some(t) = &self.trace.tracestate {
            h.insert(headers::TRACESTATE, t.as_str());
        }
        h
    }
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
    /// `Nats-Msg-Id`, or `seq-<stream sequence>` when the publisher gave none.
    pub idempotency_key: String,
    pub reply_to: Option<String>,
    pub content_type: Option<String>,
    pub trace: TraceContext,
    pub body: Bytes,
    pub stream_sequence: u64,
    /// The shard it was stored under, when the subject is well-formed.
    pub shard: Option<u32>,
    /// When this executor received it (for latency metrics).
    pub received: std::time::Instant,
    message: jetstream::Message,
}

fn header(h: Option<&HeaderMap>, name: &str) -> Option<String> {
    h.and_then(|h| h.get(name))
        .map(|v| v.as_str().to_owned())
        .filter(|v| !v.is_empty())
}

impl InvocationMessage {
    fn new(nats: &Nats, message: jetstream::Message) -> Self {
        let stream_sequence = message
            .info()
            .map(|i| i.stream_sequence)
            .unwrap_or_default();
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
        Self {
            worker,
            function: header(h, headers::FUNCTION),
            idempotency_key: header(h, headers::MSG_ID)
                .unwrap_or_else(|| format!("seq-{stream_sequence}")),
            reply_to: header(h, headers::REPLY_TO),
            content_type: header(h, headers::CONTENT_TYPE),
            trace: TraceContext {
                traceparent: header(h, headers::TRACEPARENT),
                tracestate: header(h, headers::TRACESTATE),
            },
            body: message.payload.clone(),
            stream_sequence,
            shard,
            received: std::time::Instant::now(),
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
        max_in_flight: usize,
    ) -> Result<impl Stream<Item = Result<InvocationMessage>> + Send + 'static> {
        let stream = self
            .jetstream()
            .get_stream(self.namespace().invoke_stream())
            .await
            .map_err(|e| Error::nats("get invoke stream", e))?;
        let name = format!("shard-{shard}");
        let deliver_policy = match stream.consumer_info(&name).await {
            Ok(info) => {
                let floor = info.ack_floor.stream_sequence;
                stream
                    .delete_consumer(&name)
                    .await
                    .map_err(|e| Error::nats("reset shard consumer", e))?;
                consumer::DeliverPolicy::ByStartSequence {
                    start_sequence: floor + 1,
                }
            }
            Err(_) => consumer::DeliverPolicy::All,
        };
        let consumer = stream
            .create_consumer(consumer::pull::Config {
                durable_name: Some(name),
                filter_subject: self.namespace().invoke_shard_filter(shard),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: ACK_WAIT,
                max_ack_pending: max_in_flight as i64,
                deliver_policy,
                ..Default::default()
            })
            .await
            .map_err(|e| Error::nats("create shard consumer", e))?;
        let messages = consumer
            .messages()
            .await
            .map_err(|e| Error::nats("consume shard", e))?;
        let nats = self.clone();
        Ok(messages.map(move |m| match m {
            Ok(m) => Ok(InvocationMessage::new(&nats, m)),
            Err(e) => Err(Error::nats("receive invocation", e)),
        }))
    }

    /// Subscribes (queue group `executors`) to `<ns>.call.*.*`.
    pub async fn call_requests(&self) -> Result<impl Stream<Item = CallRequest> + Send + 'static> {
        let sub = self
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
            CallRequest {
                worker,
                request: InvocationRequest {
                    function: header(h, headers::FUNCTION).unwrap_or_default(),
                    idempotency_key: header(h, headers::MSG_ID),
                    reply_to: m.reply.as_ref().map(|r| r.to_string()),
                    content_type: header(h, headers::CONTENT_TYPE),
                    body: m.payload.clone(),
                    trace: TraceContext {
                        traceparent: header(h, headers::TRACEPARENT),
                        tracestate: header(h, headers::TRACESTATE),
                    },
                },
                reply: m.reply.as_ref().map(|r| r.to_string()),
            }
        }))
    }

    /// Publishes a result (`Rvn-Status` + JSON body) to a reply subject.
    pub async fn reply(&self, subject: &str, status: &str, body: String) -> Result<()> {
        let mut h = HeaderMap::new();
        h.insert(headers::STATUS, status);
        h.insert(headers::CONTENT_TYPE, headers::CONTENT_TYPE_JSON);
        self.client()
            .publish_with_headers(subject.to_owned(), h, body.into())
            .await
            .map_err(|e| Error::nats("publish reply", e))
    }

    /// Records a rejected invocation in `RVN_DEAD` with the reason, keeping its headers and body.
    pub async fn dead_letter(&self, msg: &InvocationMessage, error: &ErrorBody) -> Result<()> {
        let subject = match &msg.worker {
            Ok(w) => self.namespace().dead_subject(w),
            Err(_) => self.namespace().dead_invalid_subject(),
        };
        // Keep the invocation's headers, except its id: the dead letter must not be
        // deduplicated against the invocation itself.
        let mut h = HeaderMap::new();
        if let Some(original) = &msg.message.headers {
            for (name, values) in original.iter() {
                if AsRef::<str>::as_ref(name) != headers::MSG_ID {
                    for v in values {
                        h.append(name.clone(), v.clone());
                    }
                }
            }
        }
        h.insert(headers::ERROR_KIND, error.kind.as_str());
        h.insert(
            headers::ERROR_MESSAGE,
            error.message.replace(['\r', '\n'], " ").as_str(),
        );
        h.insert(headers::ORIGINAL_SUBJECT, msg.subject());
        self.jetstream()
            .publish_with_headers(subject, h, msg.body.clone())
            .await
            .map_err(|e| Error::nats("dead-letter", e))?
            .await
            .map_err(|e| Error::nats("dead-letter", e))?;
        Ok(())
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
