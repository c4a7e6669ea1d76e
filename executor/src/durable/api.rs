//! The `revenant:api` host interfaces, implemented through the traits
//! `wasmtime::component::bindgen!` generates from `wit/` (so a WIT change that
//! the host does not follow fails to compile):
//! - `durability`: the worker's own id, its oplog index, deterministic
//!   idempotency keys and an explicit commit. Values that differ between runs
//!   (the index, a fresh key) are journaled so replay hands back what the first
//!   run saw. Served as `@0.2.0` and, for components built against it, `@0.1.0`.
//! - `promises` ([`super::promises`]).
//! - `rpc` ([`super::rpc`]).
//! - `messaging` ([`super::messaging`]).

use wasmtime::component::{HasData, Linker};

use super::Journal;
use super::journaled::{GenerateIdempotencyKey, OplogIndex};
use super::waits::CanWait;

pub(super) mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "revenant:api/guest@0.2.0",
        imports: {
            "revenant:api/durability.commit": async | trappable,
            "revenant:api/promises.create": async | trappable,
            "revenant:api/promises.await": async | trappable,
            "revenant:api/promises.complete": async | trappable,
            "revenant:api/rpc.invoke-and-await": async | trappable,
            "revenant:api/rpc.invoke": async | trappable,
            "revenant:api/rpc.invoke-async": async | trappable,
            "revenant:api/rpc.schedule": async | trappable,
            "revenant:api/rpc.cancel-schedule": async | trappable,
            "revenant:api/messaging.publish": async | trappable,
            default: trappable,
        },
        with: {
            "wasi:io/poll": wasmtime_wasi_io::bindings::wasi::io::poll,
            "revenant:api/rpc.future-result": super::super::rpc::RpcFuture,
        },
    });
}

/// `revenant:api@0.1.0` (`durability` only), kept for components built against it.
mod bindings_0_1 {
    wasmtime::component::bindgen!({
        path: "../wit/archive/revenant-api@0.1.0.wit",
        world: "revenant:api/guest@0.1.0",
        imports: {
            "revenant:api/durability.commit": async | trappable,
            default: trappable,
        },
    });
}

use bindings::revenant::api::durability;
use bindings_0_1::revenant::api::durability as durability_0_1;

/// What the generated `Host` traits are implemented on: the worker's journal.
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
        let (invocation, ordinal) = self.journal.next_key_ordinal();
        let worker = self.journal.worker();
        self.journal
            .read::<GenerateIdempotencyKey>((), || idempotency_key(worker, &invocation, ordinal))
    }

    async fn commit(&mut self) -> wasmtime::Result<()> {
        if !self.journal.is_replaying() {
            self.journal.commit().await?;
        }
        Ok(())
    }
}

/// 0.1.0 is 0.2.0's `durability`, unchanged.
impl durability_0_1::Host for Durability<'_> {
    fn self_id(&mut self) -> wasmtime::Result<(String, String)> {
        durability::Host::self_id(self)
    }
    fn oplog_index(&mut self) -> wasmtime::Result<u64> {
        durability::Host::oplog_index(self)
    }
    fn generate_idempotency_key(&mut self) -> wasmtime::Result<String> {
        durability::Host::generate_idempotency_key(self)
    }
    async fn commit(&mut self) -> wasmtime::Result<()> {
        durability::Host::commit(self).await
    }
}

/// The `ordinal`-th idempotency key invocation `invocation` of `worker` asks for: a
/// name-based UUID (v5) of the three, so a retried attempt, a resumed interrupt or
/// a replay hands the external system the same key, and keys never collide between
/// calls, invocations or workers.
pub fn idempotency_key(
    worker: &revenant_types::WorkerId,
    invocation: &str,
    ordinal: u64,
) -> String {
    let name = format!(
        "revenant:{}/{}/{invocation}/{ordinal}",
        worker.component, worker.worker
    );
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes()).to_string()
}

struct HasDurability;

impl HasData for HasDurability {
    type Data<'a> = Durability<'a>;
}

/// Registers `revenant:api/durability` (both versions) and `revenant:api/promises`.
pub fn add_to_linker<T: CanWait>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    durability::add_to_linker::<T, HasDurability>(linker, |t: &mut T| Durability {
        journal: t.journal(),
    })?;
    durability_0_1::add_to_linker::<T, HasDurability>(linker, |t: &mut T| Durability {
        journal: t.journal(),
    })?;
    super::promises::add_to_linker(linker)?;
    super::rpc::add_to_linker(linker)?;
    super::messaging::add_to_linker(linker)
}

#[cfg(test)]
mod tests {
    use revenant_types::WorkerId;

    use super::idempotency_key;

    #[test]
    fn an_idempotency_key_is_the_same_for_the_same_call_and_differs_otherwise() {
        let w = WorkerId::parse("shop", "alice").unwrap();
        let k = idempotency_key(&w, "order-7", 0);
        assert_eq!(k, idempotency_key(&w, "order-7", 0));
        assert_eq!(k.len(), 36);
        assert_ne!(k, idempotency_key(&w, "order-7", 1));
        assert_ne!(k, idempotency_key(&w, "order-8", 0));
        let bob = WorkerId::parse("shop", "bob").unwrap();
        assert_ne!(k, idempotency_key(&bob, "order-7", 0));
    }
}
