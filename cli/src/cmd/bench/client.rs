//! The bench's NATS client: invoke-and-await the way any user does it — the
//! nats crate's [`Nats::invoke_and_await`], a JetStream publish of the
//! invocation with `Rvn-Reply-To` set to a private inbox — with one wildcard
//! subscription routing every reply to its waiting caller ([`Replies`], as the
//! router does), so thousands of invocations can be in flight on one connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use revenant_nats::Nats;
use revenant_nats::headers;
use revenant_nats::invocations::InvocationRequest;
use revenant_nats::reply::{Replies, ReplyInbox};
use revenant_types::WorkerId;
use revenant_types::oplog::InvocationOutcome;
use revenant_types::records::error_json;

/// A result as a caller sees it.
#[derive(Debug, Clone)]
pub struct Reply {
    pub ok: bool,
    pub body: String,
}

impl From<InvocationOutcome> for Reply {
    fn from(outcome: InvocationOutcome) -> Self {
        match outcome {
            InvocationOutcome::Ok(body) => Self { ok: true, body },
            InvocationOutcome::Err(e) => Self {
                ok: false,
                body: error_json(&e),
            },
        }
    }
}

impl Reply {
    /// The body as a `u64` (what every counter function returns).
    pub fn u64(&self) -> anyhow::Result<u64> {
        if !self.ok {
            bail!("invocation failed: {}", self.body);
        }
        self.body
            .trim()
            .parse()
            .with_context(|| format!("expected a u64 result, got {:?}", self.body))
    }
}

/// One connection, one reply subscription ([`Replies`]), many callers. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    pub nats: Nats,
    replies: Replies,
    run: String,
    next: Arc<AtomicU64>,
}

impl Client {
    pub async fn new(nats: Nats) -> anyhow::Result<Self> {
        let replies = nats.replies().await?;
        let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
        Ok(Self {
            nats,
            replies,
            run,
            next: Arc::default(),
        })
    }

    /// A fresh reply subject, a unique idempotency key and the receiver of the reply.
    pub fn slot(&self) -> (String, String, ReplyInbox) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let inbox = self.replies.inbox();
        (
            inbox.subject().to_owned(),
            format!("bench-{}-{id}", self.run),
            inbox,
        )
    }

    /// Waits for a reply; a timeout is an error that says what was lost.
    pub async fn wait(
        mut inbox: ReplyInbox,
        timeout: Duration,
        what: &str,
    ) -> anyhow::Result<Reply> {
        match tokio::time::timeout(timeout, inbox.next()).await {
            Ok(Some(outcome)) => Ok(outcome.into()),
            Ok(None) => bail!("{what}: the NATS connection closed"),
            Err(_) => bail!("{what}: no reply within {timeout:?} (lost invocation?)"),
        }
    }

    /// Invokes `function` of `w` with a JSON argument array and waits for the result;
    /// returns it with the round-trip time.
    pub async fn invoke(
        &self,
        w: &WorkerId,
        function: &str,
        args_json: &str,
        timeout: Duration,
    ) -> anyhow::Result<(Reply, Duration)> {
        let started = Instant::now();
        let (_, key, mut inbox) = self.slot();
        let req = json_request(function, args_json, key);
        let awaited = self
            .nats
            .invoke_and_await(w, req, &mut inbox, timeout)
            .await
            .with_context(|| format!("invoking {function} on {w}"))?;
        let Some(outcome) = awaited.outcome else {
            bail!("{function} on {w}: no reply within {timeout:?} (lost invocation?)");
        };
        Ok((outcome.into(), started.elapsed()))
    }

    /// Publishes an invocation and returns the inbox its answer will arrive in, without
    /// waiting for it ([`Client::wait`] does); dropping the inbox ignores the answer.
    pub async fn send(
        &self,
        w: &WorkerId,
        function: &str,
        args_json: &str,
    ) -> anyhow::Result<ReplyInbox> {
        let (subject, key, inbox) = self.slot();
        let mut req = json_request(function, args_json, key);
        req.reply_to = Some(subject);
        let published = self
            .nats
            .publish_invocation(w, &req)
            .await
            .with_context(|| format!("invoking {function} on {w}"))?;
        if published.duplicate {
            bail!("{function} on {w}: JetStream took a fresh idempotency key for a duplicate");
        }
        Ok(inbox)
    }

    /// [`Client::invoke`] that requires a successful `u64` result.
    pub async fn invoke_u64(
        &self,
        w: &WorkerId,
        function: &str,
        args_json: &str,
        timeout: Duration,
    ) -> anyhow::Result<(u64, Duration)> {
        let (reply, took) = self.invoke(w, function, args_json, timeout).await?;
        Ok((
            reply.u64().with_context(|| format!("{function} on {w}"))?,
            took,
        ))
    }
}

/// An invocation of `function` with a JSON argument array under idempotency key `key`.
fn json_request(function: &str, args_json: &str, key: String) -> InvocationRequest {
    InvocationRequest {
        function: function.to_owned(),
        idempotency_key: Some(key),
        reply_to: None,
        content_type: Some(headers::CONTENT_TYPE_JSON.into()),
        body: args_json.to_owned().into(),
        trace: Default::default(),
        caller: None,
        subscription: None,
        index: false,
    }
}
