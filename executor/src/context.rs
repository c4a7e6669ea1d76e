//! What every part of an executor shares: the NATS handle, the component cache,
//! the options, the worker directories, the control registry and the metrics.
//! It also holds what the shard consumers, mailboxes and the control bridge
//! pass each other ([`Input`], [`ControlCommand`], [`ControlRegistry`]), so that
//! they depend on this module instead of on each other.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
#[cfg(test)]
use std::time::Duration;

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
    /// Room for workers in memory ([`crate::decide::room`]).
    pub room: Room,
}

/// The executor's room for workers in memory: a permit per worker, at most
/// [`crate::decide::room::limit`] of them; a recovery past it waits, telling idle
/// mailboxes to drop their workers meanwhile.
pub struct Room {
    permits: Arc<tokio::sync::Semaphore>,
    limit: usize,
    waiting: std::sync::atomic::AtomicUsize,
    /// Notified when room is short: idle mailboxes then ask [`Room::leaves`].
    pub pressure: tokio::sync::Notify,
}

/// How often a recovery that waits for room tells idle mailboxes again (those idle
/// too briefly to leave the last time may leave now).
const ROOM_NUDGE: std::time::Duration = std::time::Duration::from_millis(100);

impl Room {
    pub fn new(limit: usize) -> Self {
        Self {
            permits: Arc::new(tokio::sync::Semaphore::new(limit)),
            limit,
            waiting: Default::default(),
            pressure: Default::default(),
        }
    }

    /// A place for one worker in memory, held as long as the worker is; waits while
    /// the executor is full. Taking the last one tells idle mailboxes to make room.
    pub async fn enter(&self) -> tokio::sync::OwnedSemaphorePermit {
        if let Some(permit) = self.try_enter() {
            return permit;
        }
        // Counted as waiting until it enters or its recovery is dropped.
        struct Waiting<'a>(&'a std::sync::atomic::AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::Relaxed);
            }
        }
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let _waiting = Waiting(&self.waiting);
        loop {
            self.pressure.notify_waiters();
            if let Ok(Ok(permit)) =
                tokio::time::timeout(ROOM_NUDGE, self.permits.clone().acquire_owned()).await
            {
                return permit;
            }
        }
    }

    /// [`Room::enter`] when there is room now; `None` (nothing waited for) when not.
    pub fn try_enter(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let permit = self.permits.clone().try_acquire_owned().ok()?;
        if self.permits.available_permits() == 0 {
            self.pressure.notify_waiters();
        }
        Some(permit)
    }

    /// Whether a worker idle for `idle` leaves now that it was told room is short.
    pub fn leaves(&self, idle: std::time::Duration, evict_after: std::time::Duration) -> bool {
        let in_memory = (self.limit - self.permits.available_permits()) as u64;
        crate::decide::room::leaves(
            idle,
            evict_after,
            in_memory,
            self.limit,
            self.waiting.load(Ordering::Relaxed),
        )
    }
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

    #[tokio::test]
    async fn a_full_room_makes_the_next_wait_and_tells_idle_workers_to_leave() {
        let room = Arc::new(Room::new(2));
        let first = room.enter().await;
        // An idle worker listening for pressure: it leaves (drops its place) when told to.
        let told = room.pressure.notified();
        let second = room.enter().await;
        // Taking the last place told it already.
        tokio::time::timeout(Duration::from_secs(5), told)
            .await
            .expect("told when full");
        assert!(
            room.leaves(Duration::ZERO, Duration::ZERO),
            "full: idle ones may leave"
        );
        assert!(
            !room.leaves(Duration::ZERO, Duration::from_secs(1)),
            "not idle long enough"
        );
        let waiter = tokio::spawn({
            let room = room.clone();
            async move { room.enter().await }
        });
        // The waiter keeps telling; the idle worker hears it and leaves.
        tokio::time::timeout(Duration::from_secs(5), room.pressure.notified())
            .await
            .expect("a waiting recovery tells idle workers");
        assert_eq!(room.waiting.load(Ordering::Relaxed), 1);
        assert!(!waiter.is_finished(), "no place while two are taken");
        drop(first);
        let third = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("entered once a place was left")
            .unwrap();
        assert_eq!(room.waiting.load(Ordering::Relaxed), 0);
        drop((second, third));
        // Below the limit with nobody waiting: nobody has to leave.
        assert!(!room.leaves(Duration::from_secs(60), Duration::ZERO));
    }

    #[tokio::test]
    async fn a_dropped_recovery_stops_waiting() {
        let room = Room::new(1);
        let _only = room.enter().await;
        assert!(
            tokio::time::timeout(Duration::from_millis(250), room.enter())
                .await
                .is_err()
        );
        assert_eq!(room.waiting.load(Ordering::Relaxed), 0);
    }

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
