//! The `revenant:api/durability` host interface, implemented through the
//! traits `wasmtime::component::bindgen!` generates from `wit/revenant-api.wit`
//! (so a WIT change that the host does not follow fails to compile): the
//! worker's own id, its oplog index, deterministic idempotency keys and an
//! explicit commit. Values that differ between runs (the index, a fresh key)
//! are journaled so replay hands back what the first run saw.

use wasmtime::component::{HasData, Linker};

use super::journaled::{GenerateIdempotencyKey, OplogIndex};
use super::{HasJournal, Journal};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "revenant:api/guest",
        imports: {
            "revenant:api/durability.commit": async | trappable,
            default: trappable,
        },
    });
}

use bindings::revenant::api::durability;

/// What the generated `Host` trait is implemented on: the worker's journal.
pub struct Durability<'a> {
    journal: &'a Journal,
}

impl durability::Host for Durability<'_> {
    fn self_id(&mut self) -> wasmtime::Result<(String, String)> {
        let w = self.journal.worker();
        Ok((w.component.to_string(), w.worker.to_string()))
    }

    fn oplog_index(&mut self) -> wasmtime::Result<u64> {
        let live = self.journal.next_index().saturating_sub(1);
        self.journal.read::<OplogIndex>((), || live)
    }

    fn generate_idempotency_key(&mut self) -> wasmtime::Result<String> {
        self.journal
            .read::<GenerateIdempotencyKey>((), || uuid::Uuid::new_v4().to_string())
    }

    async fn commit(&mut self) -> wasmtime::Result<()> {
        if !self.journal.is_replaying() {
            self.journal.commit().await?;
        }
        Ok(())
    }
}

struct HasDurability;

impl HasData for HasDurability {
    type Data<'a> = Durability<'a>;
}

/// Registers `revenant:api/durability`.
pub fn add_to_linker<T: HasJournal>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    durability::add_to_linker::<T, HasDurability>(linker, |t: &mut T| Durability {
        journal: t.journal(),
    })
}
