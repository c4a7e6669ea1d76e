//! What every part of an executor shares: the NATS handle, the component cache,
//! the options, the worker directories, the control registry and the metrics.
//! It also holds what the shard consumers, mailboxes and the control bridge
//! pass each other ([`Input`], [`ControlCommand`], [`ControlRegistry`]), so that
//! they depend on this module instead of on each other.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use revenant_nats::Nats;
use revenant_nats::invocations::InvocationMessage;
use revenant_types::WorkerId;
use revenant_types::records::ControlAction;
use tokio::sync::mpsc;

use crate::components::ComponentCache;
use crate::config::ExecutorOptions;

/// What every worker of an executor shares.
pub struct WorkerEnv {
    pub nats: Nats,
    pub components: Arc<ComponentCache>,
    pub opts: Arc<ExecutorOptions>,
    pub work_dir: PathBuf,
    /// Where control requests reach the shard that holds a worker.
    pub controls: Arc<ControlRegistry>,
    pub metrics: Arc<crate::metrics::ExecutorMetrics>,
    /// Empty directories for workers' filesystems, under `work_dir`.
    pub dirs: Arc<crate::dirs::DirPool>,
    /// Notified when more workers than `max-workers-in-memory` are in memory: idle
    /// mailboxes then drop theirs.
    pub memory_pressure: tokio::sync::Notify,
}

/// What a worker's mailbox receives.
// Control input is rare; boxing every invocation to shrink it is not worth an allocation.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Input {
    Invocation(InvocationMessage),
    Control(ControlCommand),
}

/// A control request for a worker of a shard this executor holds.
#[derive(Debug)]
pub(crate) struct ControlCommand {
    pub worker: WorkerId,
    pub action: ControlAction,
    /// The requester's inbox.
    pub reply: Option<String>,
}

/// The shards this executor runs right now, each with where its control requests go.
#[derive(Default)]
pub struct ControlRegistry {
    shards: Mutex<HashMap<u32, (u64, mpsc::UnboundedSender<ControlCommand>)>>,
    generation: AtomicU64,
}

/// A shard's registration; dropping it (the shard task ends) unregisters it.
pub(crate) struct Registration {
    registry: Arc<ControlRegistry>,
    shard: u32,
    generation: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut shards = self.registry.lock();
        // A newer task of the same shard may have registered meanwhile: leave it.
        if shards
            .get(&self.shard)
            .is_some_and(|(g, _)| *g == self.generation)
        {
            shards.remove(&self.shard);
        }
    }
}

impl ControlRegistry {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<u32, (u64, mpsc::UnboundedSender<ControlCommand>)>> {
        self.shards.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Routes `shard`'s control requests to `tx` until the registration is dropped.
    pub(crate) fn register(
        self: &Arc<Self>,
        shard: u32,
        tx: mpsc::UnboundedSender<ControlCommand>,
    ) -> Registration {
        let generation = self.generation.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(shard, (generation, tx));
        Registration {
            registry: self.clone(),
            shard,
            generation,
        }
    }

    pub(crate) fn route(&self, shard: u32) -> Option<mpsc::UnboundedSender<ControlCommand>> {
        self.lock().get(&shard).map(|(_, tx)| tx.clone())
    }
}

/// A worker event's JSON (`<ns>.events.<c>.<w>`): `kind`, `at` and `fields`.
pub(crate) fn event(kind: &str, fields: serde_json::Value) -> Vec<u8> {
    let mut v = serde_json::json!({ "kind": kind, "at": revenant_types::now_ms() });
    if let (Some(obj), serde_json::Value::Object(extra)) = (v.as_object_mut(), fields) {
        obj.extend(extra);
    }
    v.to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_routes_to_its_latest_registration_until_dropped() {
        let registry = Arc::new(ControlRegistry::default());
        assert!(registry.route(3).is_none());
        let (old_tx, _old_rx) = mpsc::unbounded_channel();
        let old = registry.register(3, old_tx);
        // The shard is taken again before the old task ended: the new one wins.
        let (new_tx, mut new_rx) = mpsc::unbounded_channel();
        let new = registry.register(3, new_tx);
        drop(old);
        let tx = registry.route(3).expect("still registered");
        tx.send(ControlCommand {
            worker: WorkerId::parse("c", "w").unwrap(),
            action: ControlAction::Resume,
            reply: None,
        })
        .unwrap();
        assert_eq!(new_rx.try_recv().unwrap().action, ControlAction::Resume);
        drop(new);
        assert!(registry.route(3).is_none());
    }
}
