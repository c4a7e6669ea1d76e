//! The executor's Prometheus metrics and the `/metrics` endpoint that serves
//! them (`revenant executor --metrics-listen <addr>`).
//!
//! Failover is measured from the executor that takes over: when it claims a
//! shard whose lease lapsed, the previous holder's last renewal (the lease's
//! expiry minus the TTL) is the latest moment that holder was known alive, so
//! - `revenant_executor_shard_takeover_seconds` = claim − last renewal, and
//! - `revenant_executor_failover_seconds` = first invocation answered on that
//!   shard − last renewal: what a caller of the dead executor's workers waited
//!   at most, lease expiry and replay included (over-estimated by at most one
//!   renewal interval).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use revenant_types::ErrorKind;
use revenant_types::metrics::{LATENCY_BUCKETS, Registry};
use tokio::net::TcpListener;

use revenant_types::now_ms;

const INVOCATIONS: &str = "revenant_executor_invocations_total";
const INVOCATION_SECONDS: &str = "revenant_executor_invocation_duration_seconds";
const REJECTED: &str = "revenant_executor_rejected_total";
const RECOVERIES: &str = "revenant_executor_worker_recoveries_total";
const RECOVERY_SECONDS: &str = "revenant_executor_worker_recovery_seconds";
const REPLAYED: &str = "revenant_executor_replayed_entries_total";
const EARLY_INSTANCES: &str = "revenant_executor_early_instances_total";
const SHARDS_HELD: &str = "revenant_executor_shards_held";
const WORKERS: &str = "revenant_executor_workers_in_memory";
const CLAIMS: &str = "revenant_executor_shard_claims_total";
const LEASES_LOST: &str = "revenant_executor_shard_leases_lost_total";
const TAKEOVER_SECONDS: &str = "revenant_executor_shard_takeover_seconds";
const FAILOVER_SECONDS: &str = "revenant_executor_failover_seconds";
const WORKERS_DROPPED: &str = "revenant_executor_workers_dropped_total";
const SUSPENSIONS: &str = "revenant_executor_worker_suspensions_total";
const RESUMPTIONS: &str = "revenant_executor_worker_resumptions_total";
const FIRINGS: &str = "revenant_executor_schedule_firings_total";
const FIRING_LATENESS: &str = "revenant_executor_schedule_firing_lateness_seconds";
const SUB_MESSAGES: &str = "revenant_subscription_messages_total";
const SUB_PENDING: &str = "revenant_subscription_pending_messages";
const SUB_IN_FLIGHT: &str = "revenant_subscription_in_flight_messages";
const SUB_OLDEST: &str = "revenant_subscription_oldest_age_seconds";
const SUB_BLOCKED: &str = "revenant_subscription_blocked_keys";

/// Failover bounds: from well under the default lease TTL to a minute.
const FAILOVER_BUCKETS: [f64; 12] = [
    0.1, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0, 60.0,
];

/// Every metric of one executor.
#[derive(Debug)]
pub struct ExecutorMetrics {
    registry: Registry,
    /// Shards taken over from a lapsed holder and not yet answered on: shard → last renewal (ms).
    failovers: Mutex<HashMap<u32, u64>>,
    /// Whether `failovers` is non-empty, so answering needs no lock in the common case.
    failover_pending: AtomicBool,
}

impl Default for ExecutorMetrics {
    fn default() -> Self {
        let r = Registry::default();
        r.describe_counter(
            INVOCATIONS,
            "Invocations answered, by outcome (ok, error, duplicate).",
        );
        r.describe_histogram(
            INVOCATION_SECONDS,
            "From receiving an invocation to answering it (queueing, recovery and execution).",
            &LATENCY_BUCKETS,
        );
        r.describe_counter(
            REJECTED,
            "Invocations rejected with an error reply and a dead letter, by error kind.",
        );
        r.describe_counter(RECOVERIES, "Workers brought into memory from their oplog.");
        r.describe_histogram(
            RECOVERY_SECONDS,
            "Time to read a worker's oplog, instantiate and replay it.",
            &LATENCY_BUCKETS,
        );
        r.describe_counter(REPLAYED, "Oplog entries read while recovering workers.");
        r.describe_counter(
            EARLY_INSTANCES,
            "Instances built while a worker's oplog was read, by whether the worker took it (used: true) or it was dropped.",
        );
        r.describe_gauge(SHARDS_HELD, "Shards this executor holds a lease on.");
        r.describe_gauge(WORKERS, "Workers in memory.");
        r.describe_counter(
            CLAIMS,
            "Shard leases claimed, by how: free (never held or released) or lapsed (failover).",
        );
        r.describe_counter(LEASES_LOST, "Shard leases this executor lost.");
        r.describe_histogram(
            TAKEOVER_SECONDS,
            "From the previous holder's last lease renewal to this executor claiming the shard.",
            &FAILOVER_BUCKETS,
        );
        r.describe_histogram(
            FAILOVER_SECONDS,
            "From the previous holder's last lease renewal to the first invocation answered on the shard here.",
            &FAILOVER_BUCKETS,
        );
        r.describe_counter(
            WORKERS_DROPPED,
            "Workers dropped because their oplog append was fenced or failed.",
        );
        r.describe_counter(
            SUSPENSIONS,
            "Invocations suspended while waiting for timers or promises (instance dropped).",
        );
        r.describe_counter(
            RESUMPTIONS,
            "Suspended workers resumed by a fired timer or a promise completion.",
        );
        r.describe_counter(
            FIRINGS,
            "Firings of scheduled invocations that reached a worker, by outcome (applied, skipped).",
        );
        r.describe_histogram(
            FIRING_LATENESS,
            "From a firing's time (a one-off's scheduled time, else when the server fired it) to its arrival at the worker.",
            &LATENCY_BUCKETS,
        );
        r.describe_counter(
            SUB_MESSAGES,
            "Messages of subscriptions run here, by subscription and outcome (applied, dead-lettered).",
        );
        r.describe_gauge(
            SUB_PENDING,
            "Messages of a subscription's stream not yet delivered to its forwarder.",
        );
        r.describe_gauge(
            SUB_IN_FLIGHT,
            "Messages of a subscription delivered and not yet applied (at most its window).",
        );
        r.describe_gauge(
            SUB_OLDEST,
            "Age of a subscription's oldest message not yet applied (0 when none).",
        );
        r.describe_gauge(
            SUB_BLOCKED,
            "Keys of a subscription blocked by a failed message.",
        );
        Self {
            registry: r,
            failovers: Mutex::default(),
            failover_pending: AtomicBool::new(false),
        }
    }
}

impl ExecutorMetrics {
    /// A firing of a scheduled invocation reached its worker: `applied` or `skipped`,
    /// `lateness` after its time.
    pub fn firing(&self, outcome: &str, lateness: Option<std::time::Duration>) {
        self.registry.inc(FIRINGS, &[("outcome", outcome)], 1);
        if let Some(late) = lateness {
            self.registry
                .observe(FIRING_LATENESS, &[], late.as_secs_f64());
        }
    }

    /// An invocation of `shard` was answered `outcome` after `seconds` in the executor.
    pub fn answered(&self, shard: Option<u32>, outcome: &str, seconds: f64) {
        self.registry.inc(INVOCATIONS, &[("outcome", outcome)], 1);
        self.registry.observe(INVOCATION_SECONDS, &[], seconds);
        if let Some(shard) = shard
            && self.failover_pending.load(Ordering::Relaxed)
        {
            let mut pending = self.failovers.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(since) = pending.remove(&shard) {
                let took = now_ms().saturating_sub(since) as f64 / 1000.0;
                self.registry.observe(FAILOVER_SECONDS, &[], took);
                tracing::info!(
                    shard,
                    failover_ms = (took * 1000.0) as u64,
                    "first invocation answered after a failover (from the previous holder's last renewal)"
                );
            }
            self.failover_pending
                .store(!pending.is_empty(), Ordering::Relaxed);
        }
    }

    pub fn rejected(&self, kind: &ErrorKind) {
        self.registry.inc(REJECTED, &[("kind", kind.as_str())], 1);
    }

    pub fn recovered(&self, entries: usize, seconds: f64) {
        self.registry.inc(RECOVERIES, &[], 1);
        self.registry.inc(REPLAYED, &[], entries as u64);
        self.registry.observe(RECOVERY_SECONDS, &[], seconds);
    }

    /// An instance built while a worker's oplog was read, `used` by the worker or not.
    pub fn early_instance(&self, used: bool) {
        let used = if used { "true" } else { "false" };
        self.registry.inc(EARLY_INSTANCES, &[("used", used)], 1);
    }

    pub fn worker_dropped(&self) {
        self.registry.inc(WORKERS_DROPPED, &[], 1);
    }

    pub fn worker_suspended(&self) {
        self.registry.inc(SUSPENSIONS, &[], 1);
    }

    pub fn worker_resumed(&self) {
        self.registry.inc(RESUMPTIONS, &[], 1);
    }

    pub fn holding(&self, shards: usize, workers_in_memory: u64) {
        self.registry.set(SHARDS_HELD, &[], shards as f64);
        self.registry.set(WORKERS, &[], workers_in_memory as f64);
    }

    /// A shard was claimed; `last_renewal_ms` is the lapsed previous holder's last renewal.
    pub fn claimed(&self, shard: u32, last_renewal_ms: Option<u64>) {
        match last_renewal_ms {
            None => self.registry.inc(CLAIMS, &[("how", "free")], 1),
            Some(since) => {
                self.registry.inc(CLAIMS, &[("how", "lapsed")], 1);
                let took = now_ms().saturating_sub(since) as f64 / 1000.0;
                self.registry.observe(TAKEOVER_SECONDS, &[], took);
                let mut pending = self.failovers.lock().unwrap_or_else(|e| e.into_inner());
                pending.insert(shard, since);
                self.failover_pending.store(true, Ordering::Relaxed);
            }
        }
    }

    /// A message of subscription `name` was applied or dead-lettered.
    pub fn subscription_message(&self, name: &str, outcome: &str) {
        self.registry.inc(
            SUB_MESSAGES,
            &[("subscription", name), ("outcome", outcome)],
            1,
        );
    }

    /// Subscription `name`'s lag as its forwarder last saw it.
    pub fn subscription_lag(
        &self,
        name: &str,
        status: &revenant_types::subscription::SubscriptionStatus,
    ) {
        let l = [("subscription", name)];
        self.registry.set(SUB_PENDING, &l, status.pending as f64);
        self.registry
            .set(SUB_IN_FLIGHT, &l, status.in_flight as f64);
        self.registry
            .set(SUB_OLDEST, &l, status.oldest_age_ms as f64 / 1000.0);
        self.registry
            .set(SUB_BLOCKED, &l, status.blocked.len() as f64);
    }

    /// A shard lease was lost (or released): nothing is pending on it any more.
    pub fn lease_lost(&self, shard: u32) {
        self.registry.inc(LEASES_LOST, &[], 1);
        self.forget(shard);
    }

    /// The shard is no longer run here (released or lost).
    pub fn forget(&self, shard: u32) {
        let mut pending = self.failovers.lock().unwrap_or_else(|e| e.into_inner());
        pending.remove(&shard);
        self.failover_pending
            .store(!pending.is_empty(), Ordering::Relaxed);
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        self.registry.render()
    }
}

/// Serves `GET /metrics` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    metrics: std::sync::Arc<ExecutorMetrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::routing::get;
    let app = axum::Router::new().route(
        "/metrics",
        get(move || {
            let metrics = metrics.clone();
            async move {
                (
                    [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    metrics.render(),
                )
            }
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failover_is_observed_once_on_the_first_answer_of_a_taken_over_shard() {
        let m = ExecutorMetrics::default();
        m.claimed(3, None);
        m.claimed(7, Some(now_ms() - 900));
        m.answered(Some(3), "ok", 0.001);
        assert!(
            !m.render()
                .contains("revenant_executor_failover_seconds_count"),
            "a shard claimed free is no failover"
        );
        m.answered(Some(7), "ok", 0.001);
        m.answered(Some(7), "ok", 0.001);
        let text = m.render();
        assert!(
            text.contains("revenant_executor_failover_seconds_count 1\n"),
            "{text}"
        );
        assert!(
            text.contains("revenant_executor_failover_seconds_bucket{le=\"0.75\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("revenant_executor_failover_seconds_bucket{le=\"1\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("revenant_executor_shard_claims_total{how=\"lapsed\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("revenant_executor_invocations_total{outcome=\"ok\"} 3\n"),
            "{text}"
        );
    }
}
