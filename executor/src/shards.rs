//! Shard ownership of one executor: leases renewed on their own clock, the
//! heartbeat in `RVN_EXECUTORS`, balancing to an even share of the shards,
//! graceful hand-over of surplus shards, and claiming free or expired ones.
//! Which shards to hold, hand over and claim is decided by [`crate::balance`];
//! running a shard's invocations is [`crate::shard`]'s job.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use revenant_nats::{Lease, LeaseError, LeaseManager};
use revenant_types::ExecutorId;
use revenant_types::records::ExecutorRecord;
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::shard::run_shard;
use revenant_types::now_ms;

use crate::balance::{self, Claim, Holder, Peer};
use crate::context::WorkerEnv;
use crate::metrics::ExecutorMetrics;

/// A shard this executor runs (its lease lives in the renewal task's map).
struct HeldShard {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

type Leases = Arc<tokio::sync::Mutex<BTreeMap<u32, Lease>>>;

/// Renews every held lease on its own clock, so nothing the manager does (claiming,
/// handing over, slow KV in a cluster) can delay a renewal past the TTL. Reports
/// each lost lease on `lost`.
async fn renew_leases(
    id: ExecutorId,
    manager: LeaseManager,
    leases: Leases,
    every: Duration,
    lost: mpsc::UnboundedSender<u32>,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let mut held = leases.lock().await;
        let results = futures::future::join_all(held.iter_mut().map(|(shard, lease)| {
            let manager = &manager;
            async move { (*shard, manager.renew(lease).await) }
        }))
        .await;
        for (shard, result) in results {
            if let Err(e) = result {
                tracing::warn!(executor = %id, shard, error = %e, "shard lease lost; stopping its workers");
                held.remove(&shard);
                let _ = lost.send(shard);
            }
        }
    }
}

/// Keeps this executor's share of the shards: heartbeats in `RVN_EXECUTORS`,
/// aims for an even share (⌊shards / live⌋, plus one for the first `shards % live`
/// executors by id), hands surplus shards over gracefully (in the background) and
/// claims free or expired ones. Leases are renewed by [`renew_leases`].
pub(crate) async fn shard_manager(
    id: ExecutorId,
    env: Arc<WorkerEnv>,
    in_memory: Arc<AtomicU64>,
    mut stop: watch::Receiver<bool>,
) {
    let nats = env.nats.clone();
    let manager = nats.leases(id.clone(), env.opts.lease.clone());
    let shards = nats.options().shards;
    let started_at = now_ms();
    let every = Duration::from_millis(env.opts.lease.renew_every_ms.max(10));
    let leases: Leases = Arc::default();
    let (lost_tx, mut lost_rx) = mpsc::unbounded_channel();
    let (renew_stop_tx, renew_stop_rx) = watch::channel(false);
    // Aborted with this task (an executor whose run future is dropped must stop renewing,
    // or its leases would never lapse); on a graceful stop it is joined below.
    let mut renewer = AbortOnDrop(tokio::spawn(renew_leases(
        id.clone(),
        manager.clone(),
        leases.clone(),
        every,
        lost_tx,
        renew_stop_rx,
    )));
    let mut held: BTreeMap<u32, HeldShard> = BTreeMap::new();
    let mut releasing: JoinSet<u32> = JoinSet::new();
    let mut letting_go = balance::LettingGo::default();
    // Trim the heap after every 1,000 workers that left memory (see `allocator`).
    let mut trim = crate::allocator::TrimPolicy::new(1_000);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            // In this order: a stop first (with NATS away every tick takes seconds, and an
            // unbiased select could keep picking the always-ready tick over it).
            biased;
            _ = stop.changed() => break,
            Some(shard) = lost_rx.recv() => {
                env.metrics.lease_lost(shard);
                if let Some(h) = held.remove(&shard) {
                    // Its mailboxes stop at once (their appends would be fenced anyway); it is
                    // not claimed again before its task has ended.
                    letting_go.stopping(shard);
                    let _ = h.stop.send(true);
                    releasing.spawn(async move {
                        let mut h = h;
                        let _ = (&mut h.task).await;
                        shard
                    });
                }
                continue;
            }
            Some(done) = releasing.join_next(), if !releasing.is_empty() => {
                if let Ok(shard) = done {
                    letting_go.ended(shard);
                }
                continue;
            }
            // Last: after a slow tick the next is ready at once, and lost leases (cheap to
            // handle) must not wait behind it.
            _ = tick.tick() => {}
        }
        let record = ExecutorRecord {
            id: id.clone(),
            started_at,
            heartbeat_at: now_ms(),
            shards: held.keys().copied().collect(),
            workers_in_memory: in_memory.load(Ordering::Relaxed),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        env.metrics.holding(held.len(), record.workers_in_memory);
        if trim.observe(record.workers_in_memory) {
            tokio::task::spawn_blocking(crate::allocator::release_free_memory);
        }
        if let Err(e) = nats.executors().heartbeat(&record).await {
            tracing::warn!(executor = %id, error = %e, "heartbeat failed");
        }
        // Executors whose heartbeat is older than a lease TTL have lost their leases anyway.
        let live: Vec<Peer> = nats
            .executors()
            .live(env.opts.lease.ttl_ms)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|r| Peer {
                id: r.id,
                heartbeat_at: r.heartbeat_at,
            })
            .collect();
        let ttl_ms = env.opts.lease.ttl_ms;
        let held_set: BTreeSet<u32> = held.keys().copied().collect();
        let share = balance::share(&id, shards, &live, &held_set, ttl_ms);
        let mut wake_at = share.wake_at;
        // Hand surplus shards over in the background: running invocations finish first.
        if !share.release.is_empty() {
            for shard in share.release {
                if let Some(h) = held.remove(&shard) {
                    env.metrics.forget(shard);
                    letting_go.stopping(shard);
                    releasing.spawn(release_gracefully(
                        manager.clone(),
                        leases.clone(),
                        id.clone(),
                        shard,
                        h,
                    ));
                }
            }
            tracing::info!(executor = %id, held = ?held.keys().collect::<Vec<_>>(), "rebalancing: handing shards over");
        }
        // Claim free or expired shards up to the target: look at every candidate at once,
        // then acquire the ones nobody holds.
        if share.need > 0 {
            let candidates = balance::candidates(shards, &held_set, &letting_go);
            let now = now_ms();
            let looked = futures::future::join_all(candidates.into_iter().map(|shard| {
                let manager = &manager;
                async move { (shard, manager.holder(shard).await) }
            }))
            .await;
            // A lease that could not be read is neither claimed nor waited for.
            let looked = looked
                .into_iter()
                .filter_map(|(shard, holder)| match holder {
                    Ok(Some((record, _))) => Some((
                        shard,
                        Holder::Leased {
                            owner: record.owner,
                            expires_at: record.expires_at,
                        },
                    )),
                    Ok(None) => Some((shard, Holder::Free)),
                    Err(_) => None,
                })
                .collect();
            let (claims, lease_wake) = balance::claims(looked, share.need, now);
            wake_at = balance::earliest(wake_at, lease_wake);
            let acquired = futures::future::join_all(
                claims
                    .into_iter()
                    .map(|claim| acquire(&manager, &env.metrics, claim, ttl_ms)),
            )
            .await;
            let mut claimed = Vec::new();
            for (shard, result) in acquired {
                match result {
                    Ok(lease) => {
                        leases.lock().await.insert(shard, lease);
                        let (tx, rx) = watch::channel(false);
                        let task =
                            tokio::spawn(run_shard(shard, env.clone(), in_memory.clone(), rx));
                        held.insert(shard, HeldShard { stop: tx, task });
                        claimed.push(shard);
                    }
                    Err(LeaseError::HeldBy { .. }) => {}
                    Err(e) => {
                        tracing::warn!(executor = %id, shard, error = %e, "could not claim shard")
                    }
                }
            }
            if !claimed.is_empty() {
                tracing::info!(executor = %id, claimed = ?claimed, held = ?held.keys().collect::<Vec<_>>(), "holding shards");
            }
        }
        // Wake up right when a silent peer's heartbeat or a lapsing lease expires, rather than
        // on the next tick: failover is then not delayed by up to one renewal interval.
        if let Some(ms) = balance::wake_in(wake_at, now_ms(), every.as_millis() as u64) {
            tick.reset_at(tokio::time::Instant::now() + Duration::from_millis(ms));
        }
    }
    // Graceful shutdown: every shard finishes its running invocations, then is released.
    for h in held.values() {
        let _ = h.stop.send(true);
    }
    for (shard, h) in std::mem::take(&mut held) {
        releasing.spawn(release_gracefully(
            manager.clone(),
            leases.clone(),
            id.clone(),
            shard,
            h,
        ));
    }
    while releasing.join_next().await.is_some() {}
    let _ = renew_stop_tx.send(true);
    let _ = (&mut renewer.0).await;
    if let Err(e) = nats.executors().remove(&id).await {
        tracing::warn!(executor = %id, error = %e, "could not remove executor record");
    }
    tracing::info!(executor = %id, "released every shard");
}

/// Acquires a claimed shard's lease; a takeover from a lapsed holder is logged and measured.
async fn acquire(
    manager: &LeaseManager,
    metrics: &ExecutorMetrics,
    claim: Claim,
    ttl_ms: u64,
) -> (u32, Result<Lease, LeaseError>) {
    let shard = claim.shard;
    let result = manager.acquire(shard).await;
    if result.is_ok() {
        match claim.lapsed {
            Some((owner, expired_at)) if owner != *manager.owner() => {
                // Failover: how long the shard went unowned after its holder stopped renewing.
                tracing::info!(
                    shard,
                    from = %owner,
                    expired_ms_ago = now_ms().saturating_sub(expired_at),
                    "took over a shard whose lease lapsed"
                );
                metrics.claimed(shard, Some(expired_at.saturating_sub(ttl_ms)));
            }
            _ => metrics.claimed(shard, None),
        }
    }
    (shard, result)
}

/// A shard task is aborted with its handle (when the manager itself is dropped).
impl Drop for HeldShard {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A task aborted when its handle is dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Stops a shard (its mailboxes finish their running invocation), then releases its lease.
async fn release_gracefully(
    manager: LeaseManager,
    leases: Leases,
    id: ExecutorId,
    shard: u32,
    h: HeldShard,
) -> u32 {
    let _ = h.stop.send(true);
    let mut h = h;
    if let Err(e) = (&mut h.task).await {
        tracing::warn!(executor = %id, shard, error = %e, "shard task ended abnormally");
    }
    let lease = leases.lock().await.remove(&shard);
    if let Some(lease) = lease
        && let Err(e) = manager.release(lease).await
    {
        tracing::warn!(executor = %id, shard, error = %e, "could not release shard");
    }
    shard
}
