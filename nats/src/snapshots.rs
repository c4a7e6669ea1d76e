//! The snapshot store: worker snapshots in the `RVN_SNAPSHOTS` object store under
//! `<c>/<w>/<oplog-index>` ([`Namespace::snapshot_object`]), sealed like oplog payloads
//! when encryption at rest is on (the object name is the sealed value's place). Objects
//! are chunked by the object store, so a snapshot of any size fits. It does not decide
//! when a snapshot is taken or which one a recovery loads (the executor's
//! `decide::snapshot` does); the oplog's `Snapshot` entry is what refers to an object.

use revenant_types::names::WorkerId;
use revenant_types::oplog::OplogIndex;

use crate::client::Nats;
use crate::error::{Error, Result};
use crate::names::Namespace;
use crate::objects::{read_all, write_all};

/// Handle on `RVN_SNAPSHOTS`. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SnapshotStore {
    nats: Nats,
}

impl Nats {
    /// The snapshot store.
    pub fn snapshots(&self) -> SnapshotStore {
        SnapshotStore { nats: self.clone() }
    }
}

impl SnapshotStore {
    async fn bucket(&self) -> Result<async_nats::jetstream::object_store::ObjectStore> {
        let name = self.nats.namespace().snapshots_bucket();
        self.nats
            .jetstream()
            .get_object_store(&name)
            .await
            .map_err(|e| Error::nats(format!("opening object store {name}"), e))
    }

    /// Stores `w`'s snapshot covering the oplog up to `covers`; returns its object name.
    pub async fn put(&self, w: &WorkerId, covers: OplogIndex, bytes: Vec<u8>) -> Result<String> {
        let name = Namespace::snapshot_object(w, covers);
        self.overwrite(&name, bytes).await?;
        Ok(name)
    }

    /// The bytes of snapshot object `name` (as the `Snapshot` entry names it).
    pub async fn get(&self, name: &str) -> Result<Vec<u8>> {
        let sealed = read_all(&self.bucket().await?, name, &format!("snapshot {name}")).await?;
        Ok(self.nats.unseal(&sealed, name)?.into_owned())
    }

    /// Stores `bytes` as object `name`, replacing it ([`SnapshotStore::put`]; tests and
    /// `worker import`: a snapshot a `Snapshot` entry names is never changed by the executor).
    pub async fn overwrite(&self, name: &str, bytes: Vec<u8>) -> Result<()> {
        let sealed = self.nats.seal(bytes, name)?;
        write_all(
            &self.bucket().await?,
            name,
            &sealed,
            &format!("snapshot {name}"),
        )
        .await
    }

    /// Deletes snapshot object `name` (one no kept `Snapshot` entry names any more).
    pub async fn delete(&self, name: &str) -> Result<()> {
        self.bucket()
            .await?
            .delete(name)
            .await
            .map_err(|e| Error::nats(format!("deleting snapshot {name}"), e))
    }
}
