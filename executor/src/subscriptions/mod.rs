//! Subscriptions run here (ARCHITECTURE.md "Subscriptions"): every executor
//! watches the definitions in `RVN_SUBSCRIPTIONS` and runs the forwarder
//! ([`forward`]) of each subscription whose lease (`sub.<name>` in
//! `RVN_SHARDS`) it holds, so each runs on exactly one executor and fails over
//! like a shard: a lease not renewed within its TTL is claimed by another
//! executor, whose forwarder takes the consumer over. A changed definition
//! (paused, resumed, retried, skipped, another window) reaches the running
//! forwarder; a deleted one stops it and releases its lease.

pub mod forward;
pub mod message;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use revenant_nats::{Lease, LeaseKey, LeaseManager, Nats};
use revenant_types::ExecutorId;
use revenant_types::subscription::{SubscriptionSpec, SubscriptionStatus};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::metrics::ExecutorMetrics;

/// How long a forwarder that stopped on an error (its stream is gone, NATS is away)
/// waits before it is started again.
const RESTART_AFTER: Duration = Duration::from_secs(2);

struct Running {
    lease: Lease,
    spec: watch::Sender<SubscriptionSpec>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

struct Supervisor {
    nats: Nats,
    metrics: Arc<ExecutorMetrics>,
    id: ExecutorId,
    leases: LeaseManager,
    defs: BTreeMap<String, SubscriptionSpec>,
    running: BTreeMap<String, Running>,
    /// Forwarders that stopped on an error, and when they may start again.
    backoff: BTreeMap<String, tokio::time::Instant>,
}

/// Runs the subscriptions this executor holds until `stop`; then stops their
/// forwarders and releases their leases.
pub async fn run(
    nats: Nats,
    metrics: Arc<ExecutorMetrics>,
    id: ExecutorId,
    lease: revenant_types::config::LeaseOptions,
    mut stop: watch::Receiver<bool>,
) {
    let leases = nats.leases(id.clone(), lease);
    let mut s = Supervisor {
        nats,
        metrics,
        id,
        leases,
        defs: BTreeMap::new(),
        running: BTreeMap::new(),
        backoff: BTreeMap::new(),
    };
    let mut tick = tokio::time::interval(s.leases.renew_interval());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    'watching: loop {
        // With NATS away a watch (and a tick) can take long: a stop comes first.
        let watched = tokio::select! {
            biased;
            _ = stop.changed() => break 'watching,
            w = s.nats.watch_subscriptions() => w,
        };
        let mut changes = match watched {
            Ok(w) => Box::pin(w),
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch subscriptions; trying again");
                tokio::select! {
                    _ = stop.changed() => break 'watching,
                    _ = tokio::time::sleep(RESTART_AFTER) => continue 'watching,
                }
            }
        };
        loop {
            tokio::select! {
                biased;
                _ = stop.changed() => break 'watching,
                change = changes.next() => match change {
                    Some((name, spec)) => s.changed(name, spec).await,
                    None => continue 'watching,
                },
                _ = tick.tick() => s.tick().await,
            }
        }
    }
    let names: Vec<String> = s.running.keys().cloned().collect();
    for name in names {
        s.stop(&name, true).await;
    }
}

impl Supervisor {
    async fn changed(&mut self, name: String, spec: Option<SubscriptionSpec>) {
        match spec {
            Some(spec) => {
                if let Some(r) = self.running.get(&name) {
                    r.spec.send_replace(spec.clone());
                }
                self.defs.insert(name, spec);
            }
            None => {
                self.defs.remove(&name);
                self.stop(&name, true).await;
            }
        }
    }

    /// Renews held leases (a lost one stops its forwarder), notices forwarders that
    /// stopped on their own, and claims subscriptions nobody runs.
    async fn tick(&mut self) {
        let names: Vec<String> = self.running.keys().cloned().collect();
        for name in names {
            let Some(r) = self.running.get_mut(&name) else {
                continue;
            };
            if r.task.is_finished() {
                self.backoff
                    .insert(name.clone(), tokio::time::Instant::now() + RESTART_AFTER);
                self.stop(&name, true).await;
                continue;
            }
            if let Err(e) = self.leases.renew(&mut r.lease).await {
                tracing::warn!(subscription = %name, error = %e, "subscription lease lost; stopping its forwarder");
                self.stop(&name, false).await;
            }
        }
        let now = tokio::time::Instant::now();
        self.backoff.retain(|_, until| *until > now);
        let free: Vec<SubscriptionSpec> = self
            .defs
            .values()
            .filter(|d| !self.running.contains_key(&d.name) && !self.backoff.contains_key(&d.name))
            .cloned()
            .collect();
        for spec in free {
            let lease = match self
                .leases
                .acquire_key(&LeaseKey::Subscription(spec.name.clone()))
                .await
            {
                Ok(lease) => lease,
                Err(revenant_nats::LeaseError::HeldBy { .. }) => continue,
                Err(e) => {
                    tracing::debug!(subscription = %spec.name, error = %e, "claiming a subscription");
                    continue;
                }
            };
            self.start(spec, lease);
        }
    }

    fn start(&mut self, spec: SubscriptionSpec, lease: Lease) {
        let name = spec.name.clone();
        let (spec_tx, spec_rx) = watch::channel(spec.clone());
        let (stop_tx, stop_rx) = watch::channel(false);
        let (nats, metrics, owner) = (self.nats.clone(), self.metrics.clone(), self.id.to_string());
        let task = tokio::spawn(async move {
            let failed =
                match forward::Forwarder::new(nats.clone(), metrics, owner.clone(), spec).await {
                    Ok(f) => Box::pin(f.run(spec_rx, stop_rx)).await.err(),
                    Err(e) => Some(e),
                };
            if let Some(e) = failed {
                tracing::warn!(subscription = %name, error = %e, "forwarder stopped");
                let status = SubscriptionStatus {
                    owner,
                    updated_at: revenant_types::now_ms(),
                    error: Some(e.to_string()),
                    ..Default::default()
                };
                let _ = nats.put_subscription_status(&name, &status).await;
            }
        });
        self.running.insert(
            lease_name(&lease),
            Running {
                lease,
                spec: spec_tx,
                stop: stop_tx,
                task,
            },
        );
    }

    /// Stops the forwarder of `name`, and releases its lease when `release`.
    async fn stop(&mut self, name: &str, release: bool) {
        let Some(r) = self.running.remove(name) else {
            return;
        };
        let _ = r.stop.send(true);
        let _ = r.task.await;
        if release {
            let _ = self.leases.release(r.lease).await;
        }
    }
}

fn lease_name(lease: &Lease) -> String {
    match &lease.key {
        LeaseKey::Subscription(name) => name.clone(),
        LeaseKey::Shard(n) => n.to_string(),
    }
}
