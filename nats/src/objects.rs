//! Reading and writing whole objects of a JetStream object store (component
//! binaries, oplog blobs, snapshots), with errors that name what was read or written.

use async_nats::jetstream::object_store::ObjectStore;
use tokio::io::AsyncReadExt;

use crate::error::{Error, Result};

/// The whole of object `name`; `what` names it in errors (`component counter/1`).
pub(crate) async fn read_all(store: &ObjectStore, name: &str, what: &str) -> Result<Vec<u8>> {
    let mut object = store
        .get(name)
        .await
        .map_err(|e| Error::nats(format!("get {what}"), e))?;
    let mut bytes = Vec::new();
    object
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| Error::nats(format!("read {what}"), e))?;
    Ok(bytes)
}

/// Stores `bytes` as object `name` (replacing it); `what` names it in errors.
pub(crate) async fn write_all(
    store: &ObjectStore,
    name: &str,
    bytes: &[u8],
    what: &str,
) -> Result<()> {
    let mut reader = bytes;
    store
        .put(name, &mut reader)
        .await
        .map_err(|e| Error::nats(format!("store {what}"), e))?;
    Ok(())
}
