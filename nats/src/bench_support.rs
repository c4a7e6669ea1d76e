//! What `revenant bench` needs from NATS beyond Revenant's own contract: the
//! **floor**, the invocation message flow with no WebAssembly in it. A client
//! JetStream-publishes a request to `<NS>_BENCH_IN` (subject
//! `<ns>.bench.in.<key>`); one durable pull consumer takes it, appends one
//! fenced message (`Nats-Expected-Last-Subject-Sequence`) to the key's subject
//! `<ns>.bench.log.<key>` of `<NS>_BENCH_LOG`, waits for JetStream's ack,
//! publishes the reply to the request's `Rvn-Reply-To` and acks the request.
//! Keys are served like workers: one request at a time per key, in arrival
//! order, keys in parallel.
//!
//! Both streams are created fresh (the namespace's storage and replicas) by
//! [`Nats::bench_floor`] and deleted by [`Floor::remove`]. Nothing else in
//! Revenant uses these names; this module owns them.

use std::collections::HashMap;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer, stream};
use bytes::Bytes;
use futures::StreamExt;
use revenant_types::config::StorageKind;
use tokio::sync::{mpsc, watch};

use crate::error::{Error, Result};
use crate::{Nats, headers};

/// The floor's two streams in one namespace. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Floor {
    nats: Nats,
}

impl Nats {
    /// Creates the floor's streams, deleting leftovers of an earlier run first.
    pub async fn bench_floor(&self) -> Result<Floor> {
        let floor = Floor { nats: self.clone() };
        floor.remove().await?;
        let storage = match self.options().storage {
            StorageKind::File => stream::StorageType::File,
            StorageKind::Memory => stream::StorageType::Memory,
        };
        for (name, subject) in [
            (floor.in_stream(), floor.subject("in", "*")),
            (floor.log_stream(), floor.subject("log", "*")),
        ] {
            self.jetstream()
                .create_stream(stream::Config {
                    name: name.clone(),
                    subjects: vec![subject],
                    storage,
                    num_replicas: self.options().replicas.max(1),
                    duplicate_window: Duration::from_secs(self.options().dedup_window_secs),
                    allow_direct: true,
                    ..Default::default()
                })
                .await
                .map_err(|e| Error::nats(format!("creating bench stream {name}"), e))?;
        }
        Ok(floor)
    }
}

impl Floor {
    /// The same floor, used through another connection (e.g. a client's).
    pub fn on(&self, nats: &Nats) -> Floor {
        Floor { nats: nats.clone() }
    }

    fn upper(&self) -> String {
        self.nats.namespace().prefix().to_ascii_uppercase()
    }
    fn in_stream(&self) -> String {
        format!("{}_BENCH_IN", self.upper())
    }
    fn log_stream(&self) -> String {
        format!("{}_BENCH_LOG", self.upper())
    }
    /// `<ns>.bench.<what>.<key>`
    fn subject(&self, what: &str, key: &str) -> String {
        format!("{}.bench.{what}.{key}", self.nats.namespace().prefix())
    }

    /// Publishes one request for `key` (a NATS token) with idempotency key `msg_id`
    /// and waits for JetStream's ack, as `Nats::publish_invocation` does.
    pub async fn publish(
        &self,
        key: &str,
        msg_id: &str,
        reply_to: &str,
        body: Bytes,
    ) -> Result<u64> {
        let mut h = HeaderMap::new();
        h.insert(headers::FUNCTION, "floor");
        h.insert(headers::MSG_ID, msg_id);
        h.insert(headers::REPLY_TO, reply_to);
        h.insert(headers::CONTENT_TYPE, headers::CONTENT_TYPE_JSON);
        let ack = self
            .nats
            .jetstream()
            .publish_with_headers(self.subject("in", key), h, body)
            .await
            .map_err(|e| Error::nats("publish floor request", e))?
            .await
            .map_err(|e| Error::nats("publish floor request", e))?;
        Ok(ack.sequence)
    }

    /// Serves requests until `stop` turns true; `max_in_flight` bounds unacked requests.
    /// Returns how many requests were answered.
    pub async fn serve(
        &self,
        max_in_flight: usize,
        mut stop: watch::Receiver<bool>,
    ) -> Result<u64> {
        let stream = self
            .nats
            .jetstream()
            .get_stream(self.in_stream())
            .await
            .map_err(|e| Error::nats("open floor stream", e))?;
        let consumer = stream
            .create_consumer(consumer::pull::Config {
                durable_name: Some("floor".into()),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: Duration::from_secs(60),
                max_ack_pending: max_in_flight as i64,
                ..Default::default()
            })
            .await
            .map_err(|e| Error::nats("create floor consumer", e))?;
        let mut messages = consumer
            .messages()
            .await
            .map_err(|e| Error::nats("consume floor", e))?;
        let mut keys: HashMap<String, mpsc::UnboundedSender<jetstream::Message>> = HashMap::new();
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<u64>();
        let mut answered = 0;
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                Some(n) = done_rx.recv() => answered += n,
                m = messages.next() => {
                    let m = match m {
                        Some(Ok(m)) => m,
                        Some(Err(e)) => {
                            tracing::warn!(error = %e, "floor consumer error");
                            continue;
                        }
                        None => break,
                    };
                    let key = m.subject.as_str().rsplit('.').next().unwrap_or_default().to_owned();
                    let tx = keys.entry(key.clone()).or_insert_with(|| {
                        let (tx, rx) = mpsc::unbounded_channel();
                        tokio::spawn(serve_key(self.clone(), key, rx, done_tx.clone()));
                        tx
                    });
                    let _ = tx.send(m);
                }
            }
        }
        drop(keys);
        while let Ok(n) = done_rx.try_recv() {
            answered += n;
        }
        Ok(answered)
    }

    /// Deletes both streams (absent ones are fine).
    pub async fn remove(&self) -> Result<()> {
        for name in [self.in_stream(), self.log_stream()] {
            if self
                .nats
                .jetstream()
                .get_stream_no_info(&name)
                .await
                .is_ok()
            {
                // A missing stream is the goal, so a failed delete of one is not an error.
                let _ = self.nats.jetstream().delete_stream(&name).await;
            }
        }
        Ok(())
    }
}

/// One key's requests, in order: fenced append, reply, ack.
async fn serve_key(
    floor: Floor,
    key: String,
    mut rx: mpsc::UnboundedReceiver<jetstream::Message>,
    done: mpsc::UnboundedSender<u64>,
) {
    let subject = floor.subject("log", &key);
    let mut last_seq = 0u64;
    let mut count = 0u64;
    while let Some(m) = rx.recv().await {
        count += 1;
        let mut h = HeaderMap::new();
        h.insert(
            headers::EXPECTED_LAST_SUBJECT_SEQUENCE,
            last_seq.to_string().as_str(),
        );
        let appended = async {
            floor
                .nats
                .jetstream()
                .publish_with_headers(subject.clone(), h, m.payload.clone())
                .await?
                .await
        }
        .await;
        match appended {
            Ok(ack) => last_seq = ack.sequence,
            Err(e) => {
                tracing::error!(key, error = %e, "floor append failed; stopping this key");
                return;
            }
        }
        let reply = m
            .headers
            .as_ref()
            .and_then(|h| h.get(headers::REPLY_TO))
            .map(|v| v.as_str().to_owned());
        if let Some(reply) = reply {
            let mut h = HeaderMap::new();
            h.insert(headers::STATUS, headers::STATUS_OK);
            h.insert(headers::CONTENT_TYPE, headers::CONTENT_TYPE_JSON);
            let body = Bytes::from(count.to_string());
            if let Err(e) = floor
                .nats
                .client()
                .publish_with_headers(reply, h, body)
                .await
            {
                tracing::warn!(key, error = %e, "floor reply failed");
            }
        }
        if let Err(e) = m.ack().await {
            tracing::warn!(key, error = %e, "floor ack failed");
        }
        let _ = done.send(1);
    }
}
