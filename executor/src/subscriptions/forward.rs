//! One subscription's forwarder: reads the source consumer, publishes each
//! message as an invocation of the worker its template names (key
//! [`message_key`]), waits for the outcome, then acknowledges the message or
//! dead-letters it — as [`Forwarding`] decides. It runs while its executor holds
//! the subscription's lease ([`super`]); what it holds unacknowledged when it
//! stops is redelivered to the next forwarder, which publishes the same keys
//! again (answered from the first outcome, never applied twice).

use std::collections::{HashMap, HashSet};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, Stream, StreamExt};
use revenant_nats::Nats;
use revenant_nats::headers;
use revenant_nats::invocations::InvocationRequest;
use revenant_nats::reply::{Replies, ReplyInbox};
use revenant_nats::subscriptions::{PROGRESS_EVERY, SourceMessage};
use revenant_types::oplog::{ErrorBody, InvocationOutcome, TraceContext};
use revenant_types::subscription::{OnFailure, SubscriptionSpec, SubscriptionStatus, message_key};
use revenant_types::trace::Kind;
use revenant_types::{ErrorKind, WorkerId, now_ms};
use tokio::sync::watch;

use super::message::{await_outcome, body, verdict};
use crate::decide::subscription::{Action, Forwarding};
use crate::metrics::ExecutorMetrics;

type Messages = Pin<Box<dyn Stream<Item = revenant_nats::Result<SourceMessage>> + Send>>;

/// How often the forwarder reports its status (and lag metrics).
const STATUS_EVERY: Duration = Duration::from_secs(2);

enum Event {
    /// JetStream stored the invocation of a message (or already had it).
    Published {
        sequence: u64,
        worker: WorkerId,
        key: String,
        retry: u64,
        duplicate: bool,
        inbox: ReplyInbox,
    },
    Answered {
        sequence: u64,
        retry: u64,
        outcome: InvocationOutcome,
    },
    /// An earlier forwarder retried the message under `retry`: ask that key.
    Reissue { sequence: u64, retry: u64 },
    /// An ack, dead letter or progress report went out (or could not).
    Done,
}

/// Why a forwarder stopped on its own.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error(transparent)]
    Nats(#[from] revenant_nats::Error),
}

pub struct Forwarder {
    nats: Nats,
    metrics: Arc<ExecutorMetrics>,
    owner: String,
    spec: SubscriptionSpec,
    state: Forwarding,
    /// Delivered, not yet acknowledged: each message with the worker it names.
    held: HashMap<u64, (SourceMessage, Option<WorkerId>)>,
    /// Held messages being retried (their attempt record is cleared once applied).
    retried: HashSet<u64>,
    replies: Replies,
    work: FuturesUnordered<BoxFuture<'static, Event>>,
    status: SubscriptionStatus,
}

impl Forwarder {
    pub async fn new(
        nats: Nats,
        metrics: Arc<ExecutorMetrics>,
        owner: String,
        spec: SubscriptionSpec,
    ) -> Result<Self, ForwardError> {
        let replies = nats.replies().await?;
        Ok(Self {
            state: Forwarding::new(spec.on_failure),
            nats,
            metrics,
            status: SubscriptionStatus {
                owner: owner.clone(),
                ..Default::default()
            },
            owner,
            spec,
            held: HashMap::new(),
            retried: HashSet::new(),
            replies,
            work: FuturesUnordered::new(),
        })
    }

    async fn open(&mut self) -> Result<Option<Messages>, ForwardError> {
        if self.spec.paused {
            return Ok(None);
        }
        let messages = self.nats.subscription_messages(&self.spec).await?;
        Ok(Some(Box::pin(messages)))
    }

    /// Runs until `stop` says so or the definition goes (`spec` closes).
    pub async fn run(
        mut self,
        mut spec: watch::Receiver<SubscriptionSpec>,
        mut stop: watch::Receiver<bool>,
    ) -> Result<(), ForwardError> {
        let name = self.spec.name.clone();
        tracing::info!(subscription = %name, owner = %self.owner, "forwarding");
        let mut messages = self.open().await?;
        let mut status = tokio::time::interval(STATUS_EVERY);
        let mut progress = tokio::time::interval(PROGRESS_EVERY);
        progress.reset();
        loop {
            let next_message = async {
                match messages.as_mut() {
                    Some(m) => m.next().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = stop.changed() => break,
                changed = spec.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let new = spec.borrow_and_update().clone();
                    let reopen = async {
                        if self.respec(new).await {
                            messages = self.open().await?;
                        }
                        Ok::<_, ForwardError>(())
                    };
                    match Box::pin(unless_stopped(&mut stop, reopen)).await {
                        Some(reopened) => reopened?,
                        None => break,
                    }
                }
                m = next_message => match m {
                    Some(Ok(m)) => self.arrived(m),
                    Some(Err(e)) => tracing::debug!(subscription = %name, error = %e, "source consumer"),
                    None => {
                        // The pull stream ended (the server went away, or deliveries were lost
                        // on the way: `revenant_nats::deliveries`): take the consumer again, anew
                        // from its ack floor, so what is unacknowledged comes in stream order.
                        let reopen = async {
                            tokio::time::sleep(Duration::from_millis(500)).await;
                            self.open().await
                        };
                        match Box::pin(unless_stopped(&mut stop, reopen)).await {
                            Some(opened) => messages = opened?,
                            None => break,
                        }
                    }
                },
                Some(event) = self.work.next(), if !self.work.is_empty() => self.event(event),
                // Status writes wait on NATS (seconds when it is away): a stop comes first.
                _ = progress.tick() => if unless_stopped(&mut stop, self.progress()).await.is_none() { break },
                _ = status.tick() => if unless_stopped(&mut stop, self.report()).await.is_none() { break },
            }
        }
        tracing::info!(subscription = %name, "forwarder stopped");
        Ok(())
    }

    /// Applies a changed definition; `true` when the consumer must be opened again
    /// (paused or resumed, another window).
    async fn respec(&mut self, new: SubscriptionSpec) -> bool {
        let old = std::mem::replace(&mut self.spec, new);
        self.state.set_policy(self.spec.on_failure);
        if self.spec.retries > old.retries {
            let actions = self.state.retry(self.spec.retries);
            self.perform(actions);
        }
        if self.spec.skips > old.skips {
            let actions = self.state.skip();
            self.perform(actions);
        }
        old.paused != self.spec.paused || old.window != self.spec.window
    }

    fn arrived(&mut self, m: SourceMessage) {
        let sequence = m.sequence;
        let rendered = self.spec.worker.render(m.subject(), |h| m.header(h));
        let name = rendered
            .as_ref()
            .map(ToString::to_string)
            .map_err(Clone::clone);
        let worker = rendered
            .ok()
            .map(|n| WorkerId::new(self.spec.component.clone(), n));
        // Held first: what the decision says may be to dead-letter it at once.
        self.held.insert(sequence, (m, worker));
        let actions = self.state.arrived(sequence, name);
        self.perform(actions);
    }

    fn perform(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Publish { sequence, retry } => self.publish(sequence, retry),
                Action::Ack(sequence) => self.finish(sequence, None),
                Action::DeadLetter { sequence, error } => self.finish(sequence, Some(error)),
            }
        }
    }

    fn publish(&mut self, sequence: u64, retry: u64) {
        let Some((m, Some(worker))) = self.held.get(&sequence) else {
            return;
        };
        let worker = worker.clone();
        if retry > 0 {
            self.retried.insert(sequence);
        }
        let key = message_key(&self.spec.name, sequence, retry);
        let inbox = self.replies.inbox();
        let cause = TraceContext {
            traceparent: m.header(headers::TRACEPARENT).map(str::to_owned),
            tracestate: m.header(headers::TRACESTATE).map(str::to_owned),
        };
        // A message starts a new trace, linked to the one it was published in.
        let trace = match crate::spans::Call::start(&cause, true) {
            Some(span) => {
                let carried = span.place.context();
                let attributes = vec![
                    ("rvn.subscription", self.spec.name.clone()),
                    ("rvn.worker", worker.to_string()),
                    ("rvn.idempotency_key", key.clone()),
                ];
                let name = format!("subscription {}", self.spec.name);
                span.end(name, Kind::Producer, &cause, attributes, None);
                carried
            }
            None => cause,
        };
        let request = InvocationRequest {
            function: self.spec.function.clone(),
            idempotency_key: Some(key.clone()),
            reply_to: Some(inbox.subject().to_owned()),
            content_type: Some(headers::CONTENT_TYPE_JSON.to_owned()),
            body: body(&self.spec, m).into(),
            trace,
            caller: None,
            subscription: Some(self.spec.name.clone()),
            index: false,
        };
        let (nats, name) = (self.nats.clone(), self.spec.name.clone());
        self.work.push(
            async move {
                let mut delay = Duration::from_millis(100);
                loop {
                    let recorded = if retry > 0 {
                        nats.set_subscription_attempt(&name, sequence, retry).await
                    } else {
                        Ok(())
                    };
                    let published = match recorded {
                        Ok(()) => nats.publish_invocation(&worker, &request).await,
                        Err(e) => Err(e),
                    };
                    match published {
                        Ok(p) => {
                            return Event::Published {
                                sequence,
                                worker,
                                key,
                                retry,
                                duplicate: p.duplicate,
                                inbox,
                            };
                        }
                        Err(e) => {
                            tracing::warn!(subscription = %name, sequence, error = %e, "publishing a message's invocation; trying again");
                            tokio::time::sleep(delay).await;
                            delay = (delay * 2).min(Duration::from_secs(5));
                        }
                    }
                }
            }
            .boxed(),
        );
    }

    /// Acknowledges a message, after dead-lettering it with `error` if there is one.
    fn finish(&mut self, sequence: u64, error: Option<String>) {
        let Some((m, worker)) = self.held.remove(&sequence) else {
            return;
        };
        let retried = self.retried.remove(&sequence);
        let outcome = if error.is_some() {
            "dead-lettered"
        } else {
            "applied"
        };
        self.metrics.subscription_message(&self.spec.name, outcome);
        match outcome {
            "applied" => self.status.applied += 1,
            _ => self.status.dead_lettered += 1,
        }
        let (nats, name, stream) = (
            self.nats.clone(),
            self.spec.name.clone(),
            self.spec.stream.clone(),
        );
        self.work.push(
            async move {
                if let Some(error) = error {
                    let body = ErrorBody::new(ErrorKind::SubscriptionFailed, error);
                    let mut delay = Duration::from_millis(100);
                    while let Err(e) = nats
                        .dead_letter_source(&name, &stream, worker.as_ref(), &m, &body)
                        .await
                    {
                        tracing::warn!(subscription = %name, sequence, error = %e, "dead-lettering a message; trying again");
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(5));
                    }
                }
                if let Err(e) = m.ack().await {
                    // Redelivered later: its key answers at once, nothing runs twice.
                    tracing::debug!(subscription = %name, sequence, error = %e, "ack");
                }
                if retried {
                    let _ = nats.clear_subscription_attempt(&name, sequence).await;
                }
                Event::Done
            }
            .boxed(),
        );
    }

    fn event(&mut self, event: Event) {
        match event {
            Event::Published {
                sequence,
                worker,
                key,
                retry,
                duplicate,
                inbox,
            } => {
                let actions = self.state.published(sequence);
                self.perform(actions);
                let nats = self.nats.clone();
                self.work.push(
                    async move {
                        let outcome = await_outcome(&nats, &worker, &key, duplicate, inbox).await;
                        Event::Answered {
                            sequence,
                            retry,
                            outcome,
                        }
                    }
                    .boxed(),
                );
            }
            Event::Answered {
                sequence,
                retry,
                outcome,
            } => {
                let verdict = verdict(&self.spec, &outcome);
                if verdict.is_err() && retry == 0 && self.spec.on_failure == OnFailure::BlockKey {
                    // A failure under the first key: an earlier forwarder may have retried it.
                    let (nats, name) = (self.nats.clone(), self.spec.name.clone());
                    self.work.push(
                        async move {
                            match nats.subscription_attempt(&name, sequence).await {
                                Ok(retry) if retry > 0 => Event::Reissue { sequence, retry },
                                // Not retried: the failure stands (u64::MAX: do not ask again).
                                _ => Event::Answered {
                                    sequence,
                                    retry: u64::MAX,
                                    outcome,
                                },
                            }
                        }
                        .boxed(),
                    );
                    return;
                }
                let actions = self.state.answered(sequence, verdict);
                self.perform(actions);
            }
            Event::Reissue { sequence, retry } => {
                let actions = self.state.reissue(sequence, retry);
                self.perform(actions);
            }
            Event::Done => {}
        }
    }

    /// Tells the server the held messages are still being applied (a failed report
    /// means a redelivery later, whose key answers at once).
    async fn progress(&mut self) {
        for (m, _) in self.held.values() {
            let _ = m.in_progress().await;
        }
    }

    async fn report(&mut self) {
        let now = now_ms();
        let lag = self
            .nats
            .subscription_lag(&self.spec)
            .await
            .unwrap_or_default();
        let oldest = match self.held.values().map(|(m, _)| m.published_ms).min() {
            Some(ms) => Some(ms),
            None if lag.pending > 0 => self
                .nats
                .subscription_next_stored_ms(&self.spec, lag.delivered)
                .await
                .ok()
                .flatten(),
            None => None,
        };
        self.status.updated_at = now;
        self.status.pending = lag.pending;
        self.status.in_flight = self.held.len() as u64;
        self.status.oldest_age_ms = oldest.map_or(0, |ms| now.saturating_sub(ms));
        self.status.blocked = self.state.blocked();
        self.status.error = None;
        self.metrics.subscription_lag(&self.spec.name, &self.status);
        if let Err(e) = self
            .nats
            .put_subscription_status(&self.spec.name, &self.status)
            .await
        {
            tracing::debug!(subscription = %self.spec.name, error = %e, "status");
        }
    }
}

/// Runs `work` unless `stop` says so first (`None`: stopped; `work` is dropped).
async fn unless_stopped<F: std::future::Future>(
    stop: &mut watch::Receiver<bool>,
    work: F,
) -> Option<F::Output> {
    if *stop.borrow() {
        return None;
    }
    tokio::select! {
        out = work => Some(out),
        _ = stop.changed() => None,
    }
}
