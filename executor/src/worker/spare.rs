//! A recovery for an invocation builds an instance while the worker's oplog is read:
//! of the component version the executor last saw as the latest
//! ([`crate::components::ComponentCache::latest_seen`]), with no args or env, on a
//! journal made for an empty oplog. Building it is CPU work (~0.1 ms) done while the
//! read's round trip is on its way, which a new worker's first invocation, and any
//! recovery's, otherwise waits for in turn. When the read says the worker needs an
//! instance of that version ([`decide::spare::serves`]), the journal is moved to where
//! the read left the oplog and the worker takes the instance as its first; otherwise
//! it is dropped unused. Nothing is built when the executor has no room free for it
//! (it would wait for a place the worker may not need) or has not loaded that version.

use std::collections::HashMap;
use std::sync::Arc;

use revenant_types::{WorkerId, now_ms};

use super::Worker;
use super::restore::instantiate;
use crate::context::WorkerEnv;
use crate::decide;
use crate::durable::Journal;
use crate::durable::stdio::EventSink;
use crate::durable::waits::PromiseBook;
use crate::live::Live;
use crate::replay::{CreateInfo, ReplayPlan};
use crate::store::StoreSpec;

/// An instance built before the worker's oplog was read (see the module docs).
pub(super) struct Spare {
    pub(super) live: Live,
    pub(super) version: u64,
    pub(super) journal: Journal,
    pub(super) promises: Arc<PromiseBook>,
    pub(super) room: tokio::sync::OwnedSemaphorePermit,
}

impl Spare {
    /// Builds one when `early` (a recovery for an invocation), the executor has the
    /// version loaded and room free.
    pub(super) async fn build(
        early: bool,
        env: &WorkerEnv,
        id: &WorkerId,
        events: &EventSink,
    ) -> Option<Spare> {
        if !early {
            return None;
        }
        let loaded = env.components.latest_seen(&id.component)?;
        // Let the read's request leave first: this is CPU work while it is on its way.
        tokio::task::yield_now().await;
        let room = env.room.try_enter()?;
        let version = loaded.record.version;
        let create = CreateInfo {
            at: now_ms(),
            component_version: version,
            args: vec![],
            env: vec![],
        };
        let journal = Journal::new(id.clone(), env.nats.oplog(), 1, 0, HashMap::new());
        let promises = Arc::<PromiseBook>::default();
        let spec = StoreSpec {
            id,
            create: &create,
            journal: &journal,
            events,
            promises: &promises,
            nats: &env.nats,
            opts: &env.opts,
            dirs: &env.dirs,
        };
        let live = instantiate(env, loaded, &spec).await.ok()?.ok()?;
        Some(Spare {
            live,
            version,
            journal,
            promises,
            room,
        })
    }

    /// The spare, with its journal moved to where `read` (the read's journal) left the
    /// oplog, when it serves the worker `plan` and `create` describe; `None` otherwise
    /// (dropped, with its place in memory).
    pub(super) async fn serving(
        spare: Option<Spare>,
        plan: &ReplayPlan,
        create: &CreateInfo,
        read: &Journal,
    ) -> Option<Spare> {
        let spare = spare?;
        let own_args_or_env = !create.args.is_empty() || !create.env.is_empty();
        let version = create.component_version;
        let needs_instance = plan.needs_instance();
        if !decide::spare::serves(spare.version, version, own_args_or_env, needs_instance) {
            return None;
        }
        let last_seq = read.last_seq().await;
        spare
            .journal
            .reposition(plan.next_index, last_seq, plan.remote_ends.clone())
            .then_some(spare)
    }

    /// Hands the instance, its place in memory and its promise book (the one its store
    /// holds, given the entries `worker`'s own book took from the plan) to `worker`,
    /// whose journal is the spare's already;
    /// [`Worker::instantiate`] takes the instance first.
    pub(super) fn give_to(self, worker: &mut Worker) {
        self.promises.take_from(&worker.promises);
        worker.promises = self.promises;
        worker.room = Some(self.room);
        worker.spare = Some(self.live);
    }
}
