//! The executor service: claims shard leases, consumes each owned shard's
//! invocations, hands them to per-worker mailboxes (one invocation at a time
//! per worker, in arrival order; workers in parallel), answers and acks them,
//! rejects bad input with an error reply plus a dead letter, bridges
//! `<ns>.call.*.*` requests into invocations, and drops idle workers.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use revenant_nats::invocations::{InvocationMessage, InvocationRequest};
use revenant_nats::{Lease, LeaseError, LeaseManager, Nats, headers};
use revenant_types::oplog::{ErrorBody, InvocationOutcome};
use revenant_types::records::{
    ExecutorRecord, ResultRecord, WorkerRecord, WorkerStatus, outcome_status_and_body,
};
use revenant_types::{ExecutorId, WorkerId};
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::components::{ComponentCache, ComponentError};
use crate::config::ExecutorOptions;
use crate::durable::stdio::Output;
use crate::engine;
use crate::values;
use crate::worker::{Worker, WorkerEnv, WorkerError, now_ms};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Engine(#[from] engine::EngineError),
    #[error(transparent)]
    Component(#[from] ComponentError),
    #[error(transparent)]
    Nats(#[from] revenant_nats::Error),
    #[error("invalid executor id: {0}")]
    Id(#[from] revenant_types::NameError),
    #[error("work directory {0}: {1}")]
    WorkDir(String, std::io::Error),
}

/// A running executor's handle.
pub struct Executor {
    pub id: ExecutorId,
}

/// Runs an executor until `shutdown` resolves, then releases its shards.
pub async fn run(
    opts: ExecutorOptions,
    nats: Nats,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    let id =
        ExecutorId::new(opts.id.clone().unwrap_or_else(|| {
            format!("exec-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
        }))?;
    let work_dir = opts.work_dir.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&work_dir)
        .map_err(|e| RunError::WorkDir(work_dir.display().to_string(), e))?;
    let engine = engine::new_engine(&opts)?;
    let components = Arc::new(ComponentCache::new(
        engine,
        nats.clone(),
        opts.cache_dir.clone(),
    )?);
    let opts = Arc::new(opts);
    let env = Arc::new(WorkerEnv {
        nats: nats.clone(),
        components,
        opts: opts.clone(),
        work_dir,
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();

    tracing::info!(executor = %id, shards = nats.options().shards, "executor starting");
    tasks.spawn(call_bridge(nats.clone(), stop_rx.clone()));
    tasks.spawn(shard_manager(
        id.clone(),
        env,
        Arc::new(AtomicU64::new(0)),
        stop_rx,
    ));

    shutdown.await;
    tracing::info!(executor = %id, "executor stopping");
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    Ok(())
}

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
async fn shard_manager(
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
    let renewer = tokio::spawn(renew_leases(
        id.clone(),
        manager.clone(),
        leases.clone(),
        every,
        lost_tx,
        renew_stop_rx,
    ));
    let mut held: BTreeMap<u32, HeldShard> = BTreeMap::new();
    let mut releasing: JoinSet<u32> = JoinSet::new();
    let mut releasing_shards: std::collections::HashSet<u32> = Default::default();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            Some(shard) = lost_rx.recv() => {
                if let Some(h) = held.remove(&shard) {
                    let _ = h.stop.send(true);
                }
                continue;
            }
            Some(done) = releasing.join_next(), if !releasing.is_empty() => {
                if let Ok(shard) = done {
                    releasing_shards.remove(&shard);
                }
                continue;
            }
            _ = stop.changed() => break,
        }
        let record = ExecutorRecord {
            id: id.clone(),
            started_at,
            heartbeat_at: now_ms(),
            shards: held.keys().copied().collect(),
            workers_in_memory: in_memory.load(Ordering::Relaxed),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        if let Err(e) = nats.executors().heartbeat(&record).await {
            tracing::warn!(executor = %id, error = %e, "heartbeat failed");
        }
        // Executors whose heartbeat is older than a lease TTL have lost their leases anyway.
        let live = nats
            .executors()
            .live(env.opts.lease.ttl_ms)
            .await
            .unwrap_or_default();
        let n = live.len().max(1) as u32;
        let rank = live
            .iter()
            .position(|r| r.id == id)
            .map_or(u32::MAX, |p| p as u32);
        let target = (shards / n + u32::from(rank < shards % n)) as usize;
        // Hand surplus shards over in the background: running invocations finish first.
        if held.len() > target {
            let surplus: Vec<u32> = held
                .keys()
                .rev()
                .take(held.len() - target)
                .copied()
                .collect();
            for shard in surplus {
                if let Some(h) = held.remove(&shard) {
                    releasing_shards.insert(shard);
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
        let need = target.saturating_sub(held.len());
        if need > 0 {
            let candidates: Vec<u32> = (0..shards)
                .filter(|s| !held.contains_key(s) && !releasing_shards.contains(s))
                .collect();
            let now = now_ms();
            // (shard, the previous holder whose lease lapsed and when it lapsed, if any)
            let free: Vec<(u32, Option<(ExecutorId, u64)>)> =
                futures::future::join_all(candidates.into_iter().map(|shard| {
                    let manager = &manager;
                    async move {
                        match manager.holder(shard).await {
                            Ok(Some((record, _))) if record.expires_at > now => None,
                            Ok(Some((record, _))) => {
                                Some((shard, Some((record.owner, record.expires_at))))
                            }
                            Ok(None) => Some((shard, None)),
                            Err(_) => None,
                        }
                    }
                }))
                .await
                .into_iter()
                .flatten()
                .take(need)
                .collect();
            let acquired = futures::future::join_all(free.into_iter().map(|(shard, previous)| {
                let manager = &manager;
                async move {
                    let result = manager.acquire(shard).await;
                    if result.is_ok()
                        && let Some((owner, expired_at)) = previous
                        && owner != *manager.owner()
                    {
                        // Failover: how long the shard went unowned after its holder stopped renewing.
                        tracing::info!(
                            shard,
                            from = %owner,
                            expired_ms_ago = now_ms().saturating_sub(expired_at),
                            "took over a shard whose lease lapsed"
                        );
                    }
                    (shard, result)
                }
            }))
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
    let _ = renewer.await;
    if let Err(e) = nats.executors().remove(&id).await {
        tracing::warn!(executor = %id, error = %e, "could not remove executor record");
    }
    tracing::info!(executor = %id, "released every shard");
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
    if let Err(e) = h.task.await {
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

type Mailbox = mpsc::UnboundedSender<InvocationMessage>;

/// Consumes one shard, dispatching to per-worker mailboxes.
async fn run_shard(
    shard: u32,
    env: Arc<WorkerEnv>,
    in_memory: Arc<AtomicU64>,
    mut stop: watch::Receiver<bool>,
) {
    let nats = env.nats.clone();
    let mut messages = loop {
        let opened = tokio::select! {
            opened = nats.shard_messages(shard, env.opts.max_in_flight) => opened,
            _ = stop.changed() => return,
        };
        match opened {
            Ok(m) => break Box::pin(m),
            Err(e) => {
                tracing::warn!(shard, error = %e, "could not open shard consumer; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = stop.changed() => return,
                }
            }
        }
    };
    let mut mailboxes: HashMap<WorkerId, Mailbox> = HashMap::new();
    let mut workers = JoinSet::new();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<WorkerId>();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            Some(id) = done_rx.recv() => {
                // A mailbox ended (idle, failed or fenced); drop it unless it was replaced.
                if mailboxes.get(&id).is_some_and(|m| m.is_closed()) {
                    mailboxes.remove(&id);
                }
            }
            // Reap finished mailbox tasks, or every suspended worker would keep its task's memory.
            Some(_) = workers.join_next(), if !workers.is_empty() => {}
            msg = messages.next() => {
                let msg = match msg {
                    Some(Ok(m)) => m,
                    Some(Err(e)) => {
                        tracing::warn!(shard, error = %e, "shard consumer error");
                        continue;
                    }
                    None => break,
                };
                let id = match &msg.worker {
                    Ok(id) => id.clone(),
                    Err(reason) => {
                        reject(&nats, &msg, ErrorBody::new("invalid-name", reason.clone())).await;
                        continue;
                    }
                };
                let mut msg = Some(msg);
                if let Some(mb) = mailboxes.get(&id) {
                    match mb.send(msg.take().expect("message")) {
                        Ok(()) => {}
                        Err(mpsc::error::SendError(m)) => msg = Some(m),
                    }
                }
                if let Some(m) = msg {
                    let (tx, rx) = mpsc::unbounded_channel();
                    let _ = tx.send(m);
                    mailboxes.insert(id.clone(), tx);
                    workers.spawn(mailbox(id, env.clone(), in_memory.clone(), rx, done_tx.clone(), stop.clone()));
                }
            }
        }
    }
    drop(mailboxes);
    while workers.join_next().await.is_some() {}
}

/// Answers with an error, dead-letters and terminates a message that can never succeed.
async fn reject(nats: &Nats, msg: &InvocationMessage, error: ErrorBody) {
    tracing::info!(subject = msg.subject(), kind = %error.kind, message = %error.message, "invocation rejected");
    if let Some(reply) = &msg.reply_to {
        let (status, body) = outcome_status_and_body(&InvocationOutcome::Err(error.clone()));
        if let Err(e) = nats.reply(reply, status, body).await {
            tracing::warn!(error = %e, "could not send rejection");
        }
    }
    if let Err(e) = nats.dead_letter(msg, &error).await {
        tracing::error!(error = %e, "could not dead-letter a rejected invocation; leaving it for redelivery");
        return;
    }
    if let Err(e) = msg.term().await {
        tracing::warn!(error = %e, "could not terminate a rejected invocation");
    }
}

/// Publishes the outcome to the caller and to `RVN_RESULTS` (concurrently: the oplog,
/// already committed, is the truth; the bucket is for late pickup), then acks.
async fn answer(
    nats: &Nats,
    id: &WorkerId,
    msg: &InvocationMessage,
    function: &str,
    outcome: &InvocationOutcome,
) {
    let record = ResultRecord {
        worker: id.clone(),
        function: function.to_owned(),
        outcome: outcome.clone(),
        completed_at: now_ms(),
    };
    let store = async {
        if let Err(e) = nats.results().put(&msg.idempotency_key, &record).await {
            tracing::warn!(worker = %id, error = %e, "could not store result");
        }
    };
    let reply = async {
        if let Some(reply) = &msg.reply_to {
            let (status, body) = outcome_status_and_body(outcome);
            if let Err(e) = nats.reply(reply, status, body).await {
                tracing::warn!(worker = %id, error = %e, "could not send reply");
            }
        }
    };
    tokio::join!(store, reply);
    if let Err(e) = msg.ack().await {
        tracing::warn!(worker = %id, error = %e, "could not ack invocation");
    }
}

fn event(kind: &str, fields: serde_json::Value) -> Vec<u8> {
    let mut v = serde_json::json!({ "kind": kind, "at": now_ms() });
    if let (Some(obj), serde_json::Value::Object(extra)) = (v.as_object_mut(), fields) {
        obj.extend(extra);
    }
    v.to_string().into_bytes()
}

/// What the worker record says about a worker, taken without holding the worker across IO.
struct Summary {
    id: WorkerId,
    component_version: u64,
    last_error: Option<String>,
    oplog_index: u64,
}

impl Summary {
    fn of(w: &Worker) -> Self {
        Self {
            id: w.id.clone(),
            component_version: w.component_version(),
            last_error: w.failed().map(str::to_owned),
            oplog_index: w.oplog_index(),
        }
    }
}

async fn put_status(nats: &Nats, worker: Summary, status: WorkerStatus) {
    let existing = nats.workers().get(&worker.id).await.ok().flatten();
    let now = now_ms();
    let record = WorkerRecord {
        id: worker.id.clone(),
        status,
        component_version: worker.component_version,
        args: existing
            .as_ref()
            .map(|r| r.args.clone())
            .unwrap_or_default(),
        env: existing.as_ref().map(|r| r.env.clone()).unwrap_or_default(),
        created_at: existing.as_ref().map_or(now, |r| r.created_at),
        updated_at: now,
        last_error: worker.last_error,
        oplog_index: worker.oplog_index,
        pending_invocations: 0,
    };
    if let Err(e) = nats.workers().put(&record).await {
        tracing::warn!(worker = %worker.id, error = %e, "could not update worker record");
    }
}

/// One worker's mailbox: recovers it on the first message, runs invocations in order,
/// suspends it after the idle timeout.
async fn mailbox(
    id: WorkerId,
    env: Arc<WorkerEnv>,
    in_memory: Arc<AtomicU64>,
    mut rx: mpsc::UnboundedReceiver<InvocationMessage>,
    done: mpsc::UnboundedSender<WorkerId>,
    mut stop: watch::Receiver<bool>,
) {
    let nats = env.nats.clone();
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Output>();
    let events_nats = nats.clone();
    let events_id = id.clone();
    let events = tokio::spawn(async move {
        while let Some(out) = out_rx.recv().await {
            let line = String::from_utf8_lossy(&out.data).into_owned();
            let _ = events_nats
                .publish_event(
                    &events_id,
                    event(out.stream.as_str(), serde_json::json!({ "data": line })),
                )
                .await;
        }
    });
    let idle = Duration::from_millis(env.opts.idle_timeout_ms);
    let mut worker: Option<Worker> = None;
    loop {
        let msg = tokio::select! {
            m = rx.recv() => match m { Some(m) => m, None => break },
            _ = tokio::time::sleep(idle) => {
                tracing::debug!(worker = %id, "idle; suspending");
                if let Some(w) = &worker {
                    put_status(&nats, Summary::of(w), WorkerStatus::Suspended).await;
                }
                break;
            }
            _ = stop.changed() => break,
        };
        if msg.body.len() > nats.options().max_payload {
            let error = ErrorBody::new(
                "payload-too-large",
                format!(
                    "invocation payload is {} bytes; the limit is {} bytes",
                    msg.body.len(),
                    nats.options().max_payload
                ),
            );
            reject(&nats, &msg, error).await;
            continue;
        }
        if worker.is_none() {
            match Worker::recover(env.clone(), id.clone(), out_tx.clone()).await {
                Ok(w) => {
                    in_memory.fetch_add(1, Ordering::Relaxed);
                    let status = if w.failed().is_some() {
                        WorkerStatus::Failed
                    } else {
                        WorkerStatus::Idle
                    };
                    put_status(&nats, Summary::of(&w), status).await;
                    worker = Some(w);
                }
                Err(WorkerError::Component(m)) => {
                    reject(&nats, &msg, ErrorBody::new("unknown-component", m)).await;
                    continue;
                }
                Err(e) => {
                    tracing::error!(worker = %id, error = %e, "could not recover worker");
                    let _ = msg.nak(Duration::from_secs(1)).await;
                    break;
                }
            }
        }
        let w = worker.as_mut().expect("worker recovered above");
        // Already answered once (a duplicate), or the worker is failed: every such invocation
        // gets the known outcome (not a dead letter: the input is fine).
        let known = w.completed(&msg.idempotency_key).cloned().or_else(|| {
            w.failed().map(|message| {
                InvocationOutcome::Err(ErrorBody::new(
                    "worker-failed",
                    format!("worker {id} is failed: {message}"),
                ))
            })
        });
        if let Some(outcome) = known {
            answer(
                &nats,
                &id,
                &msg,
                msg.function.as_deref().unwrap_or_default(),
                &outcome,
            )
            .await;
            continue;
        }
        let prepared = prepare(w, &msg);
        let (function, args_json) = match prepared {
            Ok(p) => p,
            Err(error) => {
                reject(&nats, &msg, error).await;
                continue;
            }
        };
        let _ = nats
            .publish_event(&id, event("invocation-started", serde_json::json!({ "function": function, "idempotency-key": msg.idempotency_key })))
            .await;
        let was_failed = w.failed().is_some();
        match w
            .invoke(
                &msg.idempotency_key,
                &function,
                &args_json,
                msg.trace.clone(),
            )
            .await
        {
            Ok(outcome) => {
                let ok = matches!(outcome, InvocationOutcome::Ok(_));
                let _ = nats
                    .publish_event(&id, event("invocation-finished", serde_json::json!({ "function": function, "idempotency-key": msg.idempotency_key, "ok": ok })))
                    .await;
                answer(&nats, &id, &msg, &function, &outcome).await;
                if !was_failed && w.failed().is_some() {
                    put_status(&nats, Summary::of(w), WorkerStatus::Failed).await;
                }
            }
            Err(e) => {
                // Fenced or the oplog is unreachable: this executor must let go of the worker.
                tracing::error!(worker = %id, error = %e, "dropping worker");
                let _ = msg.nak(Duration::from_millis(200)).await;
                break;
            }
        }
    }
    if worker.take().is_some() {
        in_memory.fetch_sub(1, Ordering::Relaxed);
    }
    drop(out_tx);
    let _ = events.await;
    rx.close();
    // Whatever was queued behind goes back to JetStream at once (not after the ack wait),
    // to be redelivered to whoever runs the worker next.
    while let Ok(m) = rx.try_recv() {
        let _ = m.nak(Duration::ZERO).await;
    }
    let _ = done.send(id);
}

/// Resolves the function and types the arguments; returns (full name, JSON args array).
fn prepare(worker: &Worker, msg: &InvocationMessage) -> Result<(String, String), ErrorBody> {
    let component = worker.component().ok_or_else(|| {
        ErrorBody::new(
            "worker-failed",
            worker
                .failed()
                .unwrap_or("worker has no instance")
                .to_owned(),
        )
    })?;
    let requested = msg.function.as_deref().ok_or_else(|| {
        ErrorBody::new(
            "missing-function",
            format!("header {} is required: the exported function to call, e.g. pkg:ns/iface.{{fn}} or fn", headers::FUNCTION),
        )
    })?;
    let export = component
        .resolve(requested)
        .map_err(|e| ErrorBody::new("unknown-function", e.to_string()))?;
    let ty = component.func_type(&export.name).ok_or_else(|| {
        ErrorBody::new(
            "unknown-function",
            format!("{} is not callable", export.name),
        )
    })?;
    let vals = match msg.content_type.as_deref().map(|c| c.split(';').next().unwrap_or("").trim()) {
        None | Some("") | Some(headers::CONTENT_TYPE_JSON) => {
            let text = if msg.body.is_empty() { "[]".as_bytes() } else { &msg.body[..] };
            let json: serde_json::Value = serde_json::from_slice(text).map_err(|e| {
                ErrorBody::new("invalid-json", format!("body is not valid JSON ({e}); expected a JSON array of arguments"))
            })?;
            values::json_args_to_vals(ty, &json)
        }
        Some(headers::CONTENT_TYPE_WAVE) => {
            let text = std::str::from_utf8(&msg.body)
                .map_err(|_| ErrorBody::new("invalid-wave", "body is not UTF-8 WAVE text"))?;
            values::wave_args_to_vals(ty, text)
        }
        Some(other) => {
            return Err(ErrorBody::new(
                "unsupported-content-type",
                format!("content type {other:?} is not supported; expected application/json or application/wave"),
            ));
        }
    }
    .map_err(|e| ErrorBody::new("invalid-arguments", format!("{}: {e}", export.signature())))?;
    let args = serde_json::Value::Array(vals.iter().map(values::val_to_json).collect()).to_string();
    Ok((export.name.clone(), args))
}

/// Bridges `<ns>.call.<c>.<w>` requests into invocations whose reply goes to the requester.
async fn call_bridge(nats: Nats, mut stop: watch::Receiver<bool>) {
    let mut calls = match nats.call_requests().await {
        Ok(c) => Box::pin(c),
        Err(e) => {
            tracing::error!(error = %e, "could not subscribe to calls");
            return;
        }
    };
    loop {
        let call = tokio::select! {
            c = calls.next() => match c { Some(c) => c, None => return },
            _ = stop.changed() => return,
        };
        let worker = match call.worker {
            Ok(w) => w,
            Err(reason) => {
                if let Some(reply) = &call.reply {
                    let body = revenant_types::records::error_json(&ErrorBody::new(
                        "invalid-name",
                        reason,
                    ));
                    let _ = nats.reply(reply, headers::STATUS_ERROR, body).await;
                }
                continue;
            }
        };
        let req: InvocationRequest = call.request;
        // RVN_INVOKE's max message size would refuse it; say so instead of "unavailable".
        let max = nats.options().max_payload;
        if req.body.len() > max {
            if let Some(reply) = &call.reply {
                let body = revenant_types::records::error_json(&ErrorBody::new(
                    "payload-too-large",
                    format!(
                        "invocation payload is {} bytes; the limit is {max} bytes",
                        req.body.len()
                    ),
                ));
                let _ = nats.reply(reply, headers::STATUS_ERROR, body).await;
            }
            continue;
        }
        match nats.publish_invocation(&worker, &req).await {
            // A duplicate within JetStream's dedup window is not stored, so no executor answers
            // this request: answer it from `RVN_RESULTS` once the original completes.
            Ok(p) if p.duplicate => {
                if let (Some(reply), Some(key)) = (call.reply, req.idempotency_key) {
                    tokio::spawn(answer_duplicate(nats.clone(), reply, key));
                }
            }
            Ok(_) => {}
            Err(e) => {
                if let Some(reply) = &call.reply {
                    let body = revenant_types::records::error_json(&ErrorBody::new(
                        "unavailable",
                        e.to_string(),
                    ));
                    let _ = nats.reply(reply, headers::STATUS_ERROR, body).await;
                }
            }
        }
    }
}

/// How long a duplicate call waits for the original's result.
const DUPLICATE_WAIT: Duration = Duration::from_secs(120);

/// Replies to a duplicate call with the result stored for its key.
async fn answer_duplicate(nats: Nats, reply: String, key: String) {
    let outcome = match nats.watch_result(&key).await {
        Ok(results) => {
            let mut results = Box::pin(results);
            match tokio::time::timeout(DUPLICATE_WAIT, results.next()).await {
                Ok(Some(r)) => r.outcome,
                _ => InvocationOutcome::Err(ErrorBody::new(
                    "timeout",
                    format!(
                        "the invocation with idempotency key {key} is a duplicate and its result did not arrive within {DUPLICATE_WAIT:?}"
                    ),
                )),
            }
        }
        Err(e) => InvocationOutcome::Err(ErrorBody::new("unavailable", e.to_string())),
    };
    let (status, body) = outcome_status_and_body(&outcome);
    let _ = nats.reply(&reply, status, body).await;
}
