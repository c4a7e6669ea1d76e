//! Revenant's registries in KV buckets and object stores: component versions
//! (`RVN_COMPONENTS` KV key `<component>` holds every version's metadata, the
//! object store `<component>/<version>` the binary), worker records
//! (`RVN_WORKERS`) and invocation results (`RVN_RESULTS`). Values travel in
//! the versioned codec envelope.
//!
//! Component upload lives here ([`ComponentStore::upload`]): the binary is
//! inspected once by `revenant-components` (validated, exports described, no
//! compilation), then stored under the next free version. What a component
//! *means* (signatures, shapes, name resolution) is that crate's; this module
//! only stores it.

use async_nats::jetstream::kv;
use futures::TryStreamExt;
use revenant_components::{InspectError, Inspection};
use revenant_types::codec;
use revenant_types::records::{ComponentOptions, ComponentRecord, ResultRecord, WorkerRecord};
use revenant_types::snapshot::SnapshotPolicy;
use revenant_types::{ComponentName, WorkerId};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::{Namespace, Nats};

/// Every version of one component, oldest first (the KV value under `<component>`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentVersions {
    pub versions: Vec<ComponentRecord>,
}

/// Why an upload failed.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The binary is not a component Revenant can run (the caller's fault).
    #[error(transparent)]
    Invalid(#[from] InspectError),
    /// Storing it failed.
    #[error("NATS: {0}")]
    Nats(#[from] Error),
}

/// Component metadata and binaries.
#[derive(Clone)]
pub struct ComponentStore {
    nats: Nats,
}

/// Worker records.
#[derive(Clone)]
pub struct WorkerStore {
    nats: Nats,
}

/// Completed invocation results.
#[derive(Clone)]
pub struct ResultStore {
    nats: Nats,
}

impl Nats {
    pub fn components(&self) -> ComponentStore {
        ComponentStore { nats: self.clone() }
    }
    pub fn workers(&self) -> WorkerStore {
        WorkerStore { nats: self.clone() }
    }
    pub fn results(&self) -> ResultStore {
        ResultStore { nats: self.clone() }
    }

    async fn kv(&self, bucket: String) -> Result<kv::Store> {
        self.kv_bucket(bucket).await
    }
}

pub(crate) async fn get_decoded<T: serde::de::DeserializeOwned>(
    kv: &kv::Store,
    key: &str,
) -> Result<Option<(T, u64)>> {
    match kv
        .entry(key)
        .await
        .map_err(|e| Error::nats(format!("get {key}"), e))?
    {
        Some(e) if e.operation == kv::Operation::Put => {
            Ok(Some((codec::decode(&e.value)?, e.revision)))
        }
        _ => Ok(None),
    }
}

/// Every record in a bucket whose key passes `keep`, decoded (deleted keys skipped).
async fn all_decoded<T: serde::de::DeserializeOwned>(
    kv: &kv::Store,
    what: &str,
    keep: impl Fn(&str) -> bool,
) -> Result<Vec<T>> {
    Ok(all_decoded_with_keys(kv, what, keep)
        .await?
        .into_iter()
        .map(|(_, v)| v)
        .collect())
}

/// [`all_decoded`] with each record's key.
pub(crate) async fn all_decoded_with_keys<T: serde::de::DeserializeOwned>(
    kv: &kv::Store,
    what: &str,
    keep: impl Fn(&str) -> bool,
) -> Result<Vec<(String, T)>> {
    let keys: Vec<String> = match kv.keys().await {
        Ok(keys) => keys
            .try_collect()
            .await
            .map_err(|e| Error::nats(format!("list {what}"), e))?,
        Err(e) => return Err(Error::nats(format!("list {what}"), e)),
    };
    let mut out = Vec::new();
    for key in keys.into_iter().filter(|k| keep(k)) {
        if let Some((v, _)) = get_decoded::<T>(kv, &key).await? {
            out.push((key, v));
        }
    }
    Ok(out)
}

impl ComponentStore {
    /// Every version's metadata of a component.
    pub async fn versions(&self, name: &ComponentName) -> Result<ComponentVersions> {
        let kv = self
            .nats
            .kv(self.nats.namespace().components_bucket())
            .await?;
        Ok(get_decoded(&kv, &Namespace::component_key(name))
            .await?
            .map(|(v, _)| v)
            .unwrap_or_default())
    }

    /// The latest version's metadata.
    pub async fn latest(&self, name: &ComponentName) -> Result<Option<ComponentRecord>> {
        Ok(self.versions(name).await?.versions.pop())
    }

    /// One version's metadata.
    pub async fn record(
        &self,
        name: &ComponentName,
        version: u64,
    ) -> Result<Option<ComponentRecord>> {
        Ok(self
            .versions(name)
            .await?
            .versions
            .into_iter()
            .find(|r| r.version == version))
    }

    /// The latest metadata of every component.
    pub async fn list(&self) -> Result<Vec<ComponentRecord>> {
        let kv = self
            .nats
            .kv(self.nats.namespace().components_bucket())
            .await?;
        let all: Vec<ComponentVersions> = all_decoded(&kv, "components", |_| true).await?;
        let mut out: Vec<ComponentRecord> = all
            .into_iter()
            .filter_map(|mut v| v.versions.pop())
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The object store holding the binaries.
    async fn object_store(&self) -> Result<async_nats::jetstream::object_store::ObjectStore> {
        self.nats
            .jetstream()
            .get_object_store(self.nats.namespace().components_bucket())
            .await
            .map_err(|e| Error::nats("open component store", e))
    }

    /// A version's binary.
    pub async fn binary(&self, name: &ComponentName, version: u64) -> Result<Vec<u8>> {
        let store = self.object_store().await?;
        let object_name = Namespace::component_object(name, version);
        let what = format!("component {object_name}");
        crate::objects::read_all(&store, &object_name, &what).await
    }

    /// Uploads `bytes` as the next version of `name`: inspects the binary once
    /// (off the async threads; nothing is compiled) and refuses it before a
    /// version number is taken, so a refused binary leaves no trace.
    pub async fn upload(
        &self,
        name: &ComponentName,
        bytes: Vec<u8>,
    ) -> std::result::Result<ComponentRecord, UploadError> {
        self.upload_with(name, bytes, SnapshotPolicy::default())
            .await
    }

    /// [`ComponentStore::upload`] with the version's snapshot policy.
    pub async fn upload_with(
        &self,
        name: &ComponentName,
        bytes: Vec<u8>,
        snapshot: SnapshotPolicy,
    ) -> std::result::Result<ComponentRecord, UploadError> {
        let options = ComponentOptions {
            snapshot,
            ephemeral: false,
        };
        self.upload_options(name, bytes, options).await
    }

    /// [`ComponentStore::upload`] with everything a version may set besides its binary.
    pub async fn upload_options(
        &self,
        name: &ComponentName,
        bytes: Vec<u8>,
        options: ComponentOptions,
    ) -> std::result::Result<ComponentRecord, UploadError> {
        let (inspected, bytes) = tokio::task::spawn_blocking(move || {
            let inspected = revenant_components::inspect(&bytes);
            (inspected, bytes)
        })
        .await
        .map_err(|e| match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(cancelled) => Error::nats(format!("inspect component {name}"), cancelled),
        })?;
        let inspection = inspected?;
        Ok(self.publish(name, &bytes, &inspection, options).await?)
    }

    /// Uploads `bytes` as the next version of `name` unless the latest version is the
    /// same binary (by hash); returns the version in use and whether it is new.
    pub async fn upload_if_changed(
        &self,
        name: &ComponentName,
        bytes: Vec<u8>,
    ) -> std::result::Result<(ComponentRecord, bool), UploadError> {
        let hash = revenant_components::content_hash(&bytes);
        match self.latest(name).await? {
            Some(r) if r.hash == hash => Ok((r, false)),
            _ => Ok((self.upload(name, bytes).await?, true)),
        }
    }

    /// Stores `bytes` as the next version of `name` with the metadata of
    /// `inspection`. Concurrent uploads get distinct versions.
    async fn publish(
        &self,
        name: &ComponentName,
        bytes: &[u8],
        inspection: &Inspection,
        options: ComponentOptions,
    ) -> Result<ComponentRecord> {
        let kv = self
            .nats
            .kv(self.nats.namespace().components_bucket())
            .await?;
        let key = Namespace::component_key(name);
        let store = self.object_store().await?;
        loop {
            let current = get_decoded::<ComponentVersions>(&kv, &key).await?;
            let (mut versions, revision) = current.unwrap_or_default();
            let version = versions.versions.last().map_or(1, |r| r.version + 1);
            let mut record = inspection.record(name.clone(), version, revenant_types::now_ms());
            record.snapshot = options.snapshot;
            record.ephemeral = options.ephemeral;
            let object_name = Namespace::component_object(name, version);
            let mut reader = bytes;
            store
                .put(object_name.as_str(), &mut reader)
                .await
                .map_err(|e| Error::nats(format!("store component {object_name}"), e))?;
            versions.versions.push(record.clone());
            let value = codec::encode(&versions)?;
            let written = if revision == 0 {
                kv.create(&key, value.into())
                    .await
                    .map(|_| ())
                    .map_err(|e| e.kind() == kv::CreateErrorKind::AlreadyExists)
            } else {
                kv.update(&key, value.into(), revision)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.kind() == kv::UpdateErrorKind::WrongLastRevision)
            };
            match written {
                Ok(()) => return Ok(record),
                // Someone else published a version meanwhile: take the next number.
                Err(true) => continue,
                Err(false) => {
                    return Err(Error::Malformed {
                        what: format!("component {name}"),
                        reason: "could not record the new version".into(),
                    });
                }
            }
        }
    }
}

impl WorkerStore {
    pub async fn get(&self, w: &WorkerId) -> Result<Option<WorkerRecord>> {
        let kv = self.nats.kv(self.nats.namespace().workers_bucket()).await?;
        Ok(get_decoded(&kv, &Namespace::worker_key(w))
            .await?
            .map(|(r, _)| r))
    }

    pub async fn put(&self, record: &WorkerRecord) -> Result<()> {
        let kv = self.nats.kv(self.nats.namespace().workers_bucket()).await?;
        kv.put(
            Namespace::worker_key(&record.id),
            codec::encode(record)?.into(),
        )
        .await
        .map_err(|e| Error::nats("put worker record", e))?;
        Ok(())
    }

    pub async fn delete(&self, w: &WorkerId) -> Result<()> {
        let kv = self.nats.kv(self.nats.namespace().workers_bucket()).await?;
        kv.purge(Namespace::worker_key(w))
            .await
            .map_err(|e| Error::nats("delete worker record", e))
    }

    /// Every worker record (optionally of one component).
    pub async fn list(&self, component: Option<&ComponentName>) -> Result<Vec<WorkerRecord>> {
        let kv = self.nats.kv(self.nats.namespace().workers_bucket()).await?;
        let prefix = component.map(|c| format!("{c}."));
        let mut out: Vec<WorkerRecord> = all_decoded(&kv, "workers", |key| {
            prefix.as_ref().is_none_or(|p| key.starts_with(p))
        })
        .await?;
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }
}

impl ResultStore {
    /// The result of worker `w`'s invocation with `idempotency_key`: its record in the
    /// index (rejections and answers no oplog holds are only there), else the answer
    /// `w`'s retained oplog holds ([`crate::oplog::OplogStore::answer`]).
    pub async fn get(&self, w: &WorkerId, idempotency_key: &str) -> Result<Option<ResultRecord>> {
        if let Some(record) = self.stored(w, idempotency_key).await? {
            return Ok(Some(record));
        }
        self.nats.oplog().answer(w, idempotency_key).await
    }

    /// The record stored in `RVN_RESULTS` for worker `w`'s `idempotency_key`, if any
    /// (the index only: what an ephemeral worker, which has no oplog, asks).
    pub async fn stored(
        &self,
        w: &WorkerId,
        idempotency_key: &str,
    ) -> Result<Option<ResultRecord>> {
        let kv = self.nats.kv(self.nats.namespace().results_bucket()).await?;
        let key = Namespace::result_key(w, idempotency_key);
        match kv
            .entry(&key)
            .await
            .map_err(|e| Error::nats(format!("get {key}"), e))?
        {
            Some(e) if e.operation == kv::Operation::Put => {
                Ok(Some(codec::decode(&self.nats.unseal(&e.value, &key)?)?))
            }
            _ => Ok(None),
        }
    }

    /// Stores the result (or the rejection) of worker `w`'s invocation with `idempotency_key`.
    pub async fn put(
        &self,
        w: &WorkerId,
        idempotency_key: &str,
        record: &ResultRecord,
    ) -> Result<()> {
        let kv = self.nats.kv(self.nats.namespace().results_bucket()).await?;
        let key = Namespace::result_key(w, idempotency_key);
        let value = self.nats.seal(codec::encode(record)?, &key)?;
        kv.put(key, value.into())
            .await
            .map_err(|e| Error::nats("put result", e))?;
        Ok(())
    }

    /// The workers that have a result stored under `idempotency_key` (one stream-info
    /// request listing the matching subjects, not a scan of the bucket).
    pub async fn workers_with(&self, idempotency_key: &str) -> Result<Vec<WorkerId>> {
        let bucket = self.nats.namespace().results_bucket();
        let stream = self
            .nats
            .jetstream()
            .get_stream_no_info(format!("KV_{bucket}"))
            .await
            .map_err(|e| Error::nats("get results bucket", e))?;
        let prefix = format!("$KV.{bucket}.");
        let filter = format!(
            "{prefix}{}",
            Namespace::result_key_any_worker(idempotency_key)
        );
        let subjects: Vec<(String, usize)> = stream
            .info_with_subjects(filter)
            .await
            .map_err(|e| Error::nats("list results of a key", e))?
            .try_collect()
            .await
            .map_err(|e| Error::nats("list results of a key", e))?;
        let mut workers: Vec<WorkerId> = subjects
            .iter()
            .filter_map(|(s, _)| Namespace::parse_result_key(s.strip_prefix(&prefix)?))
            .collect();
        workers.sort();
        workers.dedup();
        Ok(workers)
    }
}

/// Live executors' heartbeats (`RVN_EXECUTORS`, key `<executor-id>`).
#[derive(Clone)]
pub struct ExecutorStore {
    nats: Nats,
}

impl Nats {
    pub fn executors(&self) -> ExecutorStore {
        ExecutorStore { nats: self.clone() }
    }
}

impl ExecutorStore {
    /// Writes (or refreshes) an executor's heartbeat record.
    pub async fn heartbeat(&self, record: &revenant_types::records::ExecutorRecord) -> Result<()> {
        let kv = self
            .nats
            .kv(self.nats.namespace().executors_bucket())
            .await?;
        kv.put(
            Namespace::executor_key(&record.id),
            codec::encode(record)?.into(),
        )
        .await
        .map_err(|e| Error::nats("executor heartbeat", e))?;
        Ok(())
    }

    /// Removes an executor's record (graceful shutdown).
    pub async fn remove(&self, id: &revenant_types::ExecutorId) -> Result<()> {
        let kv = self
            .nats
            .kv(self.nats.namespace().executors_bucket())
            .await?;
        kv.purge(Namespace::executor_key(id))
            .await
            .map_err(|e| Error::nats("remove executor", e))
    }

    /// Every executor whose heartbeat is newer than `max_age_ms` (by the reader's clock).
    pub async fn live(
        &self,
        max_age_ms: u64,
    ) -> Result<Vec<revenant_types::records::ExecutorRecord>> {
        let kv = self
            .nats
            .kv(self.nats.namespace().executors_bucket())
            .await?;
        let now = crate::lease::now_ms();
        let mut out: Vec<revenant_types::records::ExecutorRecord> =
            all_decoded(&kv, "executors", |_| true)
                .await?
                .into_iter()
                .filter(|r: &revenant_types::records::ExecutorRecord| {
                    now.saturating_sub(r.heartbeat_at) <= max_age_ms
                })
                .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }
}
