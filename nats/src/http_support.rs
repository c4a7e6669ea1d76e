//! What the HTTP router needs from NATS beyond the registries: the
//! `RVN_APIS` bucket of API definitions (stored as opaque JSON; the router
//! owns their format), private reply inboxes for invoke-and-await, a watch on
//! one `RVN_RESULTS` key (so a caller whose publish was deduplicated still
//! learns the result), and a readiness probe.
//!
//! It does not interpret definitions or results; it only moves them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_nats::jetstream::kv;
use futures::{Stream, StreamExt, TryStreamExt};
use revenant_types::codec;
use revenant_types::records::ResultRecord;
use tokio::sync::oneshot;

use crate::error::{Error, Result};
use crate::{Namespace, Nats, headers};

/// API definitions in `RVN_APIS`, key `<api-name>`, value: the definition's JSON.
#[derive(Clone)]
pub struct ApiStore {
    nats: Nats,
}

/// A change to one API definition, as seen by [`ApiStore::watch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiChange {
    /// Created or replaced: the name and the JSON.
    Put(String, Vec<u8>),
    /// Deleted.
    Deleted(String),
}

/// A reply to an invocation published with [`ReplyInbox::subject`] as `Rvn-Reply-To`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// `Rvn-Status` (`ok` / `error`); `error` when absent.
    pub ok: bool,
    /// The JSON body.
    pub body: Vec<u8>,
}

/// Where invocation replies for one process arrive: ONE wildcard subscription
/// (`<inbox>.*`) routes each reply to the caller waiting on its subject, so an
/// invoke-and-await costs no subscribe/unsubscribe (which would churn the
/// server's subscription index on every request). Cheap to clone.
#[derive(Clone)]
pub struct Replies {
    inner: Arc<RepliesInner>,
}

struct RepliesInner {
    prefix: String,
    next: AtomicU64,
    /// The task routing replies holds only a weak reference: it ends with the last clone.
    pending: Arc<Mutex<HashMap<u64, oneshot::Sender<Reply>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RepliesInner {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One expected reply: put [`ReplyInbox::subject`] in `Rvn-Reply-To`, then await
/// [`ReplyInbox::next`]. Dropping it forgets the expectation.
pub struct ReplyInbox {
    subject: String,
    id: u64,
    rx: oneshot::Receiver<Reply>,
    replies: Replies,
}

impl Drop for ReplyInbox {
    fn drop(&mut self) {
        self.replies.lock().remove(&self.id);
    }
}

impl ReplyInbox {
    /// The subject to put in `Rvn-Reply-To`.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The reply; `None` when the connection closed.
    pub async fn next(&mut self) -> Option<Reply> {
        (&mut self.rx).await.ok()
    }
}

impl Replies {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<Reply>>> {
        self.inner.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A fresh reply subject and the receiver of what is published to it.
    pub fn inbox(&self) -> ReplyInbox {
        let id = self.inner.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.lock().insert(id, tx);
        ReplyInbox {
            subject: format!("{}.{id}", self.inner.prefix),
            id,
            rx,
            replies: self.clone(),
        }
    }
}

fn reply_of(m: &async_nats::Message) -> Reply {
    let ok = m
        .headers
        .as_ref()
        .and_then(|h| h.get(headers::STATUS))
        .is_some_and(|v| v.as_str() == headers::STATUS_OK);
    Reply {
        ok,
        body: m.payload.to_vec(),
    }
}

impl Nats {
    /// The API-definition store.
    pub fn apis(&self) -> ApiStore {
        ApiStore { nats: self.clone() }
    }

    async fn bucket(&self, bucket: String) -> Result<kv::Store> {
        self.kv_bucket(bucket).await
    }

    /// Subscribes to `<inbox>.*` and routes replies to [`Replies::inbox`]es.
    pub async fn replies(&self) -> Result<Replies> {
        let prefix = self.client().new_inbox();
        let mut sub = self
            .client()
            .subscribe(format!("{prefix}.*"))
            .await
            .map_err(|e| Error::nats("subscribe to reply inboxes", e))?;
        let pending: Arc<Mutex<HashMap<u64, oneshot::Sender<Reply>>>> = Arc::default();
        let routes = Arc::downgrade(&pending);
        let task = tokio::spawn(async move {
            while let Some(m) = sub.next().await {
                let Some(id) = m
                    .subject
                    .as_str()
                    .rsplit('.')
                    .next()
                    .and_then(|t| t.parse().ok())
                else {
                    continue;
                };
                let Some(routes) = routes.upgrade() else {
                    return;
                };
                let tx = routes.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
                if let Some(tx) = tx {
                    let _ = tx.send(reply_of(&m));
                }
            }
        });
        Ok(Replies {
            inner: Arc::new(RepliesInner {
                prefix,
                next: AtomicU64::new(0),
                pending,
                task,
            }),
        })
    }

    /// The current and every later result stored under `idempotency_key` in
    /// `RVN_RESULTS` (the first item is the stored one, if any).
    pub async fn watch_result(
        &self,
        idempotency_key: &str,
    ) -> Result<impl Stream<Item = ResultRecord> + Send + 'static> {
        let kv = self.bucket(self.namespace().results_bucket()).await?;
        let watch = kv
            .watch_with_history(Namespace::result_key(idempotency_key))
            .await
            .map_err(|e| Error::nats("watch result", e))?;
        Ok(watch.filter_map(|e| async move {
            let e = e.ok()?;
            if e.operation != kv::Operation::Put {
                return None;
            }
            codec::decode::<ResultRecord>(&e.value).ok()
        }))
    }

    /// Names of the streams and buckets that are missing, or an error when NATS
    /// is not connected. Empty means ready.
    pub async fn readiness(&self) -> Result<Vec<String>> {
        if self.client().connection_state() != async_nats::connection::State::Connected {
            return Err(Error::Malformed {
                what: "the NATS connection".into(),
                reason: "not connected".into(),
            });
        }
        let ns = self.namespace();
        let names = [
            ns.invoke_stream(),
            ns.oplog_stream(),
            format!("KV_{}", ns.workers_bucket()),
            format!("KV_{}", ns.components_bucket()),
            format!("KV_{}", ns.results_bucket()),
            format!("KV_{}", ns.apis_bucket()),
        ];
        let mut missing = Vec::new();
        for name in names {
            if self.jetstream().get_stream(&name).await.is_err() {
                missing.push(name);
            }
        }
        Ok(missing)
    }
}

impl ApiStore {
    async fn kv(&self) -> Result<kv::Store> {
        self.nats.bucket(self.nats.namespace().apis_bucket()).await
    }

    /// Stores (creates or replaces) a definition. `name` must be a valid name
    /// (`[A-Za-z0-9_-]{1,128}`); the caller validates it.
    pub async fn put(&self, name: &str, json: Vec<u8>) -> Result<()> {
        revenant_types::names::validate("API name", name)?;
        self.kv()
            .await?
            .put(name, json.into())
            .await
            .map_err(|e| Error::nats(format!("store API {name}"), e))?;
        Ok(())
    }

    /// One definition's JSON.
    pub async fn get(&self, name: &str) -> Result<Option<Vec<u8>>> {
        revenant_types::names::validate("API name", name)?;
        let entry = self
            .kv()
            .await?
            .entry(name)
            .await
            .map_err(|e| Error::nats(format!("get API {name}"), e))?;
        Ok(entry
            .filter(|e| e.operation == kv::Operation::Put)
            .map(|e| e.value.to_vec()))
    }

    /// Deletes a definition; `false` when there was none.
    pub async fn delete(&self, name: &str) -> Result<bool> {
        if self.get(name).await?.is_none() {
            return Ok(false);
        }
        self.kv()
            .await?
            .purge(name)
            .await
            .map_err(|e| Error::nats(format!("delete API {name}"), e))?;
        Ok(true)
    }

    /// Every definition, by name.
    pub async fn list(&self) -> Result<Vec<(String, Vec<u8>)>> {
        let kv = self.kv().await?;
        let keys: Vec<String> = match kv.keys().await {
            Ok(keys) => keys
                .try_collect()
                .await
                .map_err(|e| Error::nats("list APIs", e))?,
            Err(e) => return Err(Error::nats("list APIs", e)),
        };
        let mut out = Vec::new();
        for key in keys {
            if let Some(json) = self.get(&key).await? {
                out.push((key, json));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Every current definition, then every change, for keeping a cache.
    pub async fn watch(&self) -> Result<impl Stream<Item = ApiChange> + Send + 'static> {
        let watch = self
            .kv()
            .await?
            .watch_with_history(">")
            .await
            .map_err(|e| Error::nats("watch APIs", e))?;
        Ok(watch.filter_map(|e| async move {
            let e = e.ok()?;
            Some(match e.operation {
                kv::Operation::Put => ApiChange::Put(e.key, e.value.to_vec()),
                kv::Operation::Delete | kv::Operation::Purge => ApiChange::Deleted(e.key),
            })
        }))
    }
}
