//! The bench's NATS client: invoke-and-await the way any user does it — a
//! JetStream publish of the invocation with `Rvn-Reply-To` set to a private
//! inbox — with one wildcard subscription routing every reply to its waiting
//! caller, so thousands of invocations can be in flight on one connection.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use revenant_nats::Nats;
use revenant_nats::headers;
use revenant_nats::invocations::InvocationRequest;
use revenant_types::WorkerId;
use tokio::sync::oneshot;

/// A result as a caller sees it.
#[derive(Debug, Clone)]
pub struct Reply {
    pub ok: bool,
    pub body: String,
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

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Reply>>>>;

/// One connection, one reply subscription, many callers. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    pub nats: Nats,
    inbox: String,
    run: String,
    next: Arc<AtomicU64>,
    pending: Pending,
}

impl Client {
    /// Subscribes to `<inbox>.*` and starts routing replies.
    pub async fn new(nats: Nats) -> anyhow::Result<Self> {
        let inbox = nats.client().new_inbox();
        let mut sub = nats.client().subscribe(format!("{inbox}.*")).await?;
        let pending: Pending = Arc::default();
        let routes = pending.clone();
        tokio::spawn(async move {
            while let Some(m) = sub.next().await {
                let Some(id) = m
                    .subject
                    .as_str()
                    .rsplit('.')
                    .next()
                    .and_then(|t| t.parse::<u64>().ok())
                else {
                    continue;
                };
                let ok = m
                    .headers
                    .as_ref()
                    .and_then(|h| h.get(headers::STATUS))
                    .is_some_and(|v| v.as_str() == headers::STATUS_OK);
                let reply = Reply {
                    ok,
                    body: String::from_utf8_lossy(&m.payload).into_owned(),
                };
                let tx = routes.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
                if let Some(tx) = tx {
                    let _ = tx.send(reply);
                }
            }
        });
        let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
        Ok(Self {
            nats,
            inbox,
            run,
            next: Arc::default(),
            pending,
        })
    }

    /// A fresh reply subject, a unique idempotency key and the receiver of the reply.
    pub fn slot(&self) -> (String, String, oneshot::Receiver<Reply>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, tx);
        (
            format!("{}.{id}", self.inbox),
            format!("bench-{}-{id}", self.run),
            rx,
        )
    }

    /// Waits for a reply; a timeout is an error that says what was lost.
    pub async fn wait(
        rx: oneshot::Receiver<Reply>,
        timeout: Duration,
        what: &str,
    ) -> anyhow::Result<Reply> {
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(_)) => bail!("{what}: reply channel closed"),
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
        let (reply_to, key, rx) = self.slot();
        let req = InvocationRequest {
            function: function.to_owned(),
            idempotency_key: Some(key),
            reply_to: Some(reply_to),
            content_type: Some(headers::CONTENT_TYPE_JSON.into()),
            body: args_json.to_owned().into(),
            trace: Default::default(),
        };
        self.nats
            .publish_invocation(w, &req)
            .await
            .with_context(|| format!("publishing {function} to {w}"))?;
        let reply = Self::wait(rx, timeout, &format!("{function} on {w}")).await?;
        Ok((reply, started.elapsed()))
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
