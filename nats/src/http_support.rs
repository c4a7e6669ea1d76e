//! What the HTTP router needs from NATS beyond the registries: the
//! `RVN_APIS` bucket of API definitions (stored as opaque JSON; the router
//! owns their format), a watch on one `RVN_RESULTS` key (so a caller whose
//! publish was deduplicated still learns the result; see [`crate::reply`] for
//! invoke-and-await and reply inboxes), and a readiness probe.
//!
//! It does not interpret definitions or results; it only moves them.

use async_nats::jetstream::kv;
use futures::{Stream, StreamExt, TryStreamExt};
use revenant_types::WorkerId;
use revenant_types::codec;
use revenant_types::records::ResultRecord;

use crate::error::{Error, Result};
use crate::{Namespace, Nats};

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

impl Nats {
    /// The API-definition store.
    pub fn apis(&self) -> ApiStore {
        ApiStore { nats: self.clone() }
    }

    async fn bucket(&self, bucket: String) -> Result<kv::Store> {
        self.kv_bucket(bucket).await
    }

    /// The current and every later result of worker `w`'s invocation with
    /// `idempotency_key` in `RVN_RESULTS` (the first item is the stored one, if any).
    pub async fn watch_result(
        &self,
        w: &WorkerId,
        idempotency_key: &str,
    ) -> Result<impl Stream<Item = ResultRecord> + Send + 'static> {
        let kv = self.bucket(self.namespace().results_bucket()).await?;
        let key = Namespace::result_key(w, idempotency_key);
        let watch = kv
            .watch_with_history(key.clone())
            .await
            .map_err(|e| Error::nats("watch result", e))?;
        let nats = self.clone();
        Ok(watch.filter_map(move |e| {
            let (nats, key) = (nats.clone(), key.clone());
            async move {
                let e = e.ok()?;
                if e.operation != kv::Operation::Put {
                    return None;
                }
                codec::decode::<ResultRecord>(&nats.unseal(&e.value, &key).ok()?).ok()
            }
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
            format!("KV_{}", ns.promises_bucket()),
            format!("KV_{}", ns.schedules_bucket()),
            format!("KV_{}", ns.subscriptions_bucket()),
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
