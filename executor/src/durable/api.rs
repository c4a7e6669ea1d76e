//! The `revenant:api/durability` host interface: the worker's own id, its
//! oplog index, deterministic idempotency keys and an explicit commit.
//! Values that differ between runs (the index, a fresh key) are journaled so
//! replay hands back what the first run saw.

use revenant_types::oplog::HostValue;
use wasmtime::StoreContextMut;
use wasmtime::component::Linker;

use super::HasJournal;

pub const DURABILITY: &str = "revenant:api/durability@0.1.0";

fn text(value: HostValue, function: &str) -> wasmtime::Result<String> {
    match value {
        HostValue::Text(s) => Ok(s),
        other => Err(wasmtime::format_err!(
            "journal holds {other:?} for {function}"
        )),
    }
}

/// Registers `revenant:api/durability`.
pub fn add_to_linker<T: HasJournal>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    let mut api = linker.instance(DURABILITY)?;
    api.func_wrap("self-id", |store: StoreContextMut<'_, T>, (): ()| {
        let w = store.data().journal().worker();
        Ok(((w.component.to_string(), w.worker.to_string()),))
    })?;
    api.func_wrap("oplog-index", |store: StoreContextMut<'_, T>, (): ()| {
        let journal = store.data().journal();
        let live = journal.next_index().saturating_sub(1);
        match journal.read_remote(
            "revenant:api/durability.oplog-index",
            HostValue::Unit,
            || HostValue::U64(live),
        )? {
            HostValue::U64(v) => Ok((v,)),
            other => Err(wasmtime::format_err!(
                "journal holds {other:?} for oplog-index"
            )),
        }
    })?;
    api.func_wrap(
        "generate-idempotency-key",
        |store: StoreContextMut<'_, T>, (): ()| {
            const F: &str = "revenant:api/durability.generate-idempotency-key";
            let v = store.data().journal().read_remote(F, HostValue::Unit, || {
                HostValue::Text(uuid::Uuid::new_v4().to_string())
            })?;
            Ok((text(v, F)?,))
        },
    )?;
    api.func_wrap_async("commit", |store: StoreContextMut<'_, T>, (): ()| {
        let journal = store.data().journal().clone();
        Box::new(async move {
            if !journal.is_replaying() {
                journal.commit().await?;
            }
            Ok(())
        })
    })?;
    Ok(())
}
