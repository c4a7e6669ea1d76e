//! The executor service: starts shard ownership ([`crate::shards`]), consumes each owned shard's
//! invocations, hands them to per-worker mailboxes (one invocation at a time
//! per worker, in arrival order; workers in parallel), answers and acks them,
//! rejects bad input with an error reply plus a dead letter, bridges
//! `<ns>.call.*.*` requests into invocations, and drops idle workers.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use revenant_nats::invocations::{InvocationMessage, InvocationRequest};
use revenant_nats::{Nats, headers};
use revenant_types::ErrorKind;
use revenant_types::oplog::{ErrorBody, InvocationOutcome};
use revenant_types::records::{ResultRecord, WorkerRecord, WorkerStatus, outcome_status_and_body};
use revenant_types::{ExecutorId, WorkerId};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::components::{ComponentCache, ComponentError};
use crate::config::ExecutorOptions;
use crate::control::{self, Input};
use crate::durable::stdio::Output;
use crate::engine;
use crate::values;
use revenant_types::now_ms;

use crate::context::WorkerEnv;
use crate::worker::{Worker, WorkerError};

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
    #[error("cannot serve metrics on {0}: {1}")]
    Metrics(String, std::io::Error),
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
    let metrics = Arc::new(crate::metrics::ExecutorMetrics::default());
    let env = Arc::new(WorkerEnv {
        nats: nats.clone(),
        components,
        opts: opts.clone(),
        dirs: crate::dirs::DirPool::new(work_dir.clone()),
        work_dir,
        metrics: metrics.clone(),
        controls: Default::default(),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    if let Some(addr) = &opts.metrics_listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| RunError::Metrics(addr.clone(), e))?;
        let local = listener
            .local_addr()
            .map_err(|e| RunError::Metrics(addr.clone(), e))?;
        tracing::info!(executor = %id, "metrics on http://{local}/metrics");
        let mut stop = stop_rx.clone();
        tasks.spawn(async move {
            let stopped = async move {
                let _ = stop.changed().await;
            };
            if let Err(e) = crate::metrics::serve(listener, metrics, stopped).await {
                tracing::error!(error = %e, "metrics endpoint failed");
            }
        });
    }

    tracing::info!(executor = %id, shards = nats.options().shards, "executor starting");
    tasks.spawn(call_bridge(nats.clone(), stop_rx.clone()));
    tasks.spawn(crate::control::control_bridge(env.clone(), stop_rx.clone()));
    tasks.spawn(crate::shards::shard_manager(
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

type Mailbox = mpsc::UnboundedSender<Input>;

/// Consumes one shard, dispatching to per-worker mailboxes.
pub(crate) async fn run_shard(
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
    // Control requests for this shard's workers come here while the shard runs.
    let (control_tx, mut control_rx) = mpsc::unbounded_channel();
    let registration = env.controls.register(shard, control_tx);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            Some(cmd) = control_rx.recv() => {
                let id = cmd.worker.clone();
                deliver(&mut mailboxes, id.clone(), Input::Control(cmd), |rx| {
                    workers.spawn(mailbox(id, env.clone(), in_memory.clone(), rx, done_tx.clone(), stop.clone()));
                });
            }
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
                        reject(&env, &msg, ErrorBody::new(ErrorKind::InvalidName, reason.clone())).await;
                        continue;
                    }
                };
                deliver(&mut mailboxes, id.clone(), Input::Invocation(msg), |rx| {
                    workers.spawn(mailbox(id, env.clone(), in_memory.clone(), rx, done_tx.clone(), stop.clone()));
                });
            }
        }
    }
    // Stopping: control requests now go unanswered (the requester retries with the next holder).
    drop(registration);
    drop(mailboxes);
    while workers.join_next().await.is_some() {}
}

/// Hands `input` to the worker's mailbox; `start` runs a new one when it has none (or it ended).
fn deliver(
    mailboxes: &mut HashMap<WorkerId, Mailbox>,
    id: WorkerId,
    input: Input,
    start: impl FnOnce(mpsc::UnboundedReceiver<Input>),
) {
    let input = match mailboxes.get(&id) {
        Some(mb) => match mb.send(input) {
            Ok(()) => return,
            Err(mpsc::error::SendError(input)) => input,
        },
        None => input,
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let _ = tx.send(input);
    mailboxes.insert(id, tx);
    start(rx);
}

/// Answers with an error, dead-letters and terminates a message that can never succeed.
async fn reject(env: &WorkerEnv, msg: &InvocationMessage, error: ErrorBody) {
    let nats = &env.nats;
    tracing::info!(subject = msg.subject(), kind = %error.kind, message = %error.message, "invocation rejected");
    env.metrics.rejected(&error.kind);
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
    env: &WorkerEnv,
    id: &WorkerId,
    msg: &InvocationMessage,
    function: &str,
    outcome: &InvocationOutcome,
) {
    let nats = &env.nats;
    let record = ResultRecord {
        worker: id.clone(),
        function: function.to_owned(),
        outcome: outcome.clone(),
        completed_at: now_ms(),
    };
    // Callers whose reply was lost (e.g. their NATS node died) and whose retries JetStream
    // swallows as duplicates can only get the result from the bucket: it must get there.
    let store = async {
        match nats.results().put(&msg.idempotency_key, &record).await {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(worker = %id, error = %e, "could not store result; the invocation will be redelivered and answered again");
                false
            }
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
    let (stored, ()) = tokio::join!(store, reply);
    let status = match outcome {
        InvocationOutcome::Ok(_) => "ok",
        InvocationOutcome::Err(_) => "error",
    };
    env.metrics
        .answered(msg.shard, status, msg.received.elapsed().as_secs_f64());
    let acked = if stored {
        msg.ack().await
    } else {
        msg.nak(RESULT_RETRY).await
    };
    if let Err(e) = acked {
        tracing::warn!(worker = %id, error = %e, "could not ack invocation");
    }
}

/// When an invocation whose result could not be stored comes back to be answered again.
const RESULT_RETRY: Duration = Duration::from_secs(1);

pub(crate) fn event(kind: &str, fields: serde_json::Value) -> Vec<u8> {
    let mut v = serde_json::json!({ "kind": kind, "at": now_ms() });
    if let (Some(obj), serde_json::Value::Object(extra)) = (v.as_object_mut(), fields) {
        obj.extend(extra);
    }
    v.to_string().into_bytes()
}

/// What the worker record says about a worker, taken without holding the worker across IO.
pub(crate) struct Summary {
    id: WorkerId,
    component_version: u64,
    args: Vec<String>,
    env: Vec<(String, String)>,
    created_at: u64,
    last_error: Option<String>,
    oplog_index: u64,
}

impl Summary {
    pub(crate) fn of(w: &Worker) -> Self {
        let created = w.created();
        Self {
            id: w.id.clone(),
            component_version: w.component_version(),
            args: created.args.clone(),
            env: created.env.clone(),
            created_at: created.at,
            last_error: w.failed().map(str::to_owned),
            oplog_index: w.oplog_index(),
        }
    }
}

/// Writes the worker's record (everything in it comes from the worker's oplog: one put).
pub(crate) async fn put_status(nats: &Nats, worker: Summary, status: WorkerStatus) {
    let record = WorkerRecord {
        id: worker.id.clone(),
        status,
        component_version: worker.component_version,
        args: worker.args,
        env: worker.env,
        created_at: worker.created_at,
        updated_at: now_ms(),
        last_error: worker.last_error,
        oplog_index: worker.oplog_index,
        pending_invocations: 0,
    };
    if let Err(e) = nats.workers().put(&record).await {
        tracing::warn!(worker = %worker.id, error = %e, "could not update worker record");
    }
}

/// The status written when a worker is recovered: deferred until its first invocation
/// is answered, then written in the background, so a cold start waits for neither. Every
/// later status write of the mailbox settles it first, so writes land in order.
#[derive(Default)]
struct RecoveredStatus {
    deferred: Option<(Summary, WorkerStatus)>,
    writing: Option<tokio::task::JoinHandle<()>>,
}

impl RecoveredStatus {
    /// Starts the deferred write, if any.
    fn start(&mut self, nats: &Nats) {
        if let Some((summary, status)) = self.deferred.take() {
            let nats = nats.clone();
            self.writing = Some(tokio::spawn(async move {
                put_status(&nats, summary, status).await;
            }));
        }
    }

    /// Writes it now if still deferred, and waits until it is written.
    async fn settle(&mut self, nats: &Nats) {
        self.start(nats);
        if let Some(w) = self.writing.take() {
            let _ = w.await;
        }
    }
}

/// One worker's mailbox: recovers it on the first message, runs invocations in order,
/// suspends it after the idle timeout.
async fn mailbox(
    id: WorkerId,
    env: Arc<WorkerEnv>,
    in_memory: Arc<AtomicU64>,
    mut rx: mpsc::UnboundedReceiver<Input>,
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
    // Invocations taken from `rx` but not run yet: those that arrived while one ran, and
    // every invocation while the worker is interrupted (the interrupted one first).
    let mut queue: VecDeque<InvocationMessage> = VecDeque::new();
    let mut keepalive = tokio::time::interval(control::KEEPALIVE);
    keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut recovered_status = RecoveredStatus::default();
    loop {
        recovered_status.start(&nats);
        let held = worker.as_ref().is_some_and(Worker::interrupted);
        let next = if held { None } else { queue.pop_front() };
        let msg = match next {
            Some(m) => m,
            None => {
                let input = tokio::select! {
                    m = rx.recv() => match m { Some(m) => m, None => break },
                    _ = tokio::time::sleep(idle), if queue.is_empty() => {
                        tracing::debug!(worker = %id, "idle; suspending");
                        recovered_status.settle(&nats).await;
                        if let Some(w) = &worker {
                            let status = if held { WorkerStatus::Interrupted } else { WorkerStatus::Suspended };
                            put_status(&nats, Summary::of(w), status).await;
                        }
                        break;
                    }
                    _ = keepalive.tick(), if !queue.is_empty() => {
                        control::keep_alive(None, &queue).await;
                        continue;
                    }
                    _ = stop.changed() => break,
                };
                match input {
                    Input::Control(cmd) => {
                        recovered_status.settle(&nats).await;
                        match control::handle(&env, &mut worker, &in_memory, &out_tx, cmd).await {
                            control::Flow::Continue => continue,
                            control::Flow::Drop => break,
                        }
                    }
                    // Interrupted: held in order, except duplicates of completed invocations.
                    Input::Invocation(m) if held => {
                        let known = worker
                            .as_ref()
                            .and_then(|w| w.completed(&m.idempotency_key).cloned());
                        match known {
                            Some(outcome) => {
                                answer(
                                    &env,
                                    &id,
                                    &m,
                                    m.function.as_deref().unwrap_or_default(),
                                    &outcome,
                                )
                                .await;
                            }
                            None => queue.push_back(m),
                        }
                        continue;
                    }
                    Input::Invocation(m) => m,
                }
            }
        };
        if msg.body.len() > nats.options().max_payload {
            let error = ErrorBody::new(
                ErrorKind::PayloadTooLarge,
                format!(
                    "invocation payload is {} bytes; the limit is {} bytes",
                    msg.body.len(),
                    nats.options().max_payload
                ),
            );
            reject(&env, &msg, error).await;
            continue;
        }
        if worker.is_none() {
            match Worker::recover(env.clone(), id.clone(), out_tx.clone()).await {
                Ok(w) => {
                    in_memory.fetch_add(1, Ordering::Relaxed);
                    let status = if w.failed().is_some() {
                        WorkerStatus::Failed
                    } else if w.interrupted() {
                        WorkerStatus::Interrupted
                    } else {
                        WorkerStatus::Idle
                    };
                    recovered_status.deferred = Some((Summary::of(&w), status));
                    worker = Some(w);
                }
                Err(WorkerError::Component(m)) => {
                    reject(&env, &msg, ErrorBody::new(ErrorKind::UnknownComponent, m)).await;
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
                    ErrorKind::WorkerFailed,
                    format!("worker {id} is failed: {message}"),
                ))
            })
        });
        if let Some(outcome) = known {
            answer(
                &env,
                &id,
                &msg,
                msg.function.as_deref().unwrap_or_default(),
                &outcome,
            )
            .await;
            continue;
        }
        if w.interrupted() {
            // Recovered interrupted (durably, by an earlier executor): hold it until resumed.
            queue.push_front(msg);
            continue;
        }
        let prepared = prepare(w, &msg);
        let (function, args_json) = match prepared {
            Ok(p) => p,
            Err(error) => {
                reject(&env, &msg, error).await;
                continue;
            }
        };
        let _ = nats
            .publish_event(&id, event("invocation-started", serde_json::json!({ "function": function, "idempotency-key": msg.idempotency_key })))
            .await;
        let was_failed = w.failed().is_some();
        // Boxed: raced against control input, it would make the mailbox's future huge.
        let run = Box::pin(w.invoke(
            &msg.idempotency_key,
            &function,
            &args_json,
            msg.trace.clone(),
        ));
        let result = match control::race(run, &msg, &mut rx, &mut queue, &nats, &id).await {
            control::Raced::Done(result) => result,
            control::Raced::Interrupted(cmd) => {
                // Not answered, not acked: it runs again, first, when the worker is resumed.
                queue.push_front(msg);
                recovered_status.settle(&nats).await;
                match control::interrupt_stopped(&env, &mut worker, &in_memory, &out_tx, cmd).await
                {
                    control::Flow::Continue => continue,
                    control::Flow::Drop => break,
                }
            }
        };
        match result {
            Ok(outcome) => {
                let ok = matches!(outcome, InvocationOutcome::Ok(_));
                let _ = nats
                    .publish_event(&id, event("invocation-finished", serde_json::json!({ "function": function, "idempotency-key": msg.idempotency_key, "ok": ok })))
                    .await;
                answer(&env, &id, &msg, &function, &outcome).await;
                if !was_failed && w.failed().is_some() {
                    recovered_status.settle(&nats).await;
                    put_status(&nats, Summary::of(w), WorkerStatus::Failed).await;
                }
            }
            Err(e) => {
                // Fenced or the oplog is unreachable: this executor must let go of the worker.
                tracing::error!(worker = %id, error = %e, "dropping worker");
                env.metrics.worker_dropped();
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
    // to be redelivered to whoever runs the worker next. Control requests left unanswered
    // time out at the requester, which retries.
    for m in queue {
        let _ = m.nak(Duration::ZERO).await;
    }
    while let Ok(input) = rx.try_recv() {
        if let Input::Invocation(m) = input {
            let _ = m.nak(Duration::ZERO).await;
        }
    }
    let _ = done.send(id);
}

/// Resolves the function and types the arguments; returns (full name, JSON args array).
fn prepare(worker: &Worker, msg: &InvocationMessage) -> Result<(String, String), ErrorBody> {
    let component = worker.component().ok_or_else(|| {
        ErrorBody::new(
            ErrorKind::WorkerFailed,
            worker
                .failed()
                .unwrap_or("worker has no instance")
                .to_owned(),
        )
    })?;
    let requested = msg.function.as_deref().ok_or_else(|| {
        ErrorBody::new(
            ErrorKind::MissingFunction,
            format!("header {} is required: the exported function to call, e.g. pkg:ns/iface.{{fn}} or fn", headers::FUNCTION),
        )
    })?;
    let export = component
        .resolve(requested)
        .map_err(|e| ErrorBody::new(ErrorKind::UnknownFunction, e.to_string()))?;
    let ty = component.func_type(&export.name).ok_or_else(|| {
        ErrorBody::new(
            ErrorKind::UnknownFunction,
            format!("{} is not callable", export.name),
        )
    })?;
    let vals = match msg.content_type.as_deref().map(|c| c.split(';').next().unwrap_or("").trim()) {
        None | Some("") | Some(headers::CONTENT_TYPE_JSON) => {
            let text = if msg.body.is_empty() { "[]".as_bytes() } else { &msg.body[..] };
            let json: serde_json::Value = serde_json::from_slice(text).map_err(|e| {
                ErrorBody::new(ErrorKind::InvalidJson, format!("body is not valid JSON ({e}); expected a JSON array of arguments"))
            })?;
            values::json_args_to_vals(ty, &json)
        }
        Some(headers::CONTENT_TYPE_WAVE) => {
            let text = std::str::from_utf8(&msg.body)
                .map_err(|_| ErrorBody::new(ErrorKind::InvalidWave, "body is not UTF-8 WAVE text"))?;
            values::wave_args_to_vals(ty, text)
        }
        Some(other) => {
            return Err(ErrorBody::new(
                ErrorKind::UnsupportedContentType,
                format!("content type {other:?} is not supported; expected application/json or application/wave"),
            ));
        }
    }
    .map_err(|e| ErrorBody::new(ErrorKind::InvalidArguments, format!("{}: {e}", export.signature())))?;
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
                        ErrorKind::InvalidName,
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
                    ErrorKind::PayloadTooLarge,
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
                        ErrorKind::Unavailable,
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
                    ErrorKind::Timeout,
                    format!(
                        "the invocation with idempotency key {key} is a duplicate and its result did not arrive within {DUPLICATE_WAIT:?}"
                    ),
                )),
            }
        }
        Err(e) => InvocationOutcome::Err(ErrorBody::new(ErrorKind::Unavailable, e.to_string())),
    };
    let (status, body) = outcome_status_and_body(&outcome);
    let _ = nats.reply(&reply, status, body).await;
}
