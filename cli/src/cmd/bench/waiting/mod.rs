//! The waiting section (ARCHITECTURE.md "Waiting: suspension, timers,
//! promises"): durable sleeps and promises, through child `revenant executor`
//! processes started with a short `--suspend-after-ms` (the bench's flag of that
//! name, 500 ms by default) so that every wait below really suspends its worker —
//! `Suspended` journaled, the instance dropped — and a JetStream message schedule
//! (a timer) or a completion message (a promise) wakes it. Each part has a
//! namespace of its own on the bench's server and uses only the bundled examples:
//! `reminder`'s `sleep-ms`, `approval`'s `request` and `counter`.
//!
//! - Timer lateness: `--sleeps` workers sleep `--sleep-ms` each, all at once. A
//!   sleep returns the journaled wall times it started and woke, so its lateness
//!   is exactly `woke − (started + sleep)`. Their oplogs are then read: each must
//!   have suspended, and its timer fired once.
//! - Promise completion → answer: `--promise-waiters` approval workers await a
//!   promise each, until their records say suspended; then, one at a time, the
//!   promise is completed with the promise store (`complete`, as the CLI, HTTP and
//!   the executor's service do) and the time to the invocation's answer is taken.
//!   Compared with a counter `get` round trip on the same executor.
//! - Memory per suspended sleeper: a fresh executor's VmRSS at rest (one sleeper
//!   suspended first, alone) and once `--sleepers` more are suspended in one-hour
//!   sleeps (their records say so, and the executor's heartbeat says it holds no
//!   worker in memory), the growth divided by their number. The executor trims the
//!   heap after every 1,000 workers that leave memory and when a wave of them ends
//!   (counted at its heartbeats); freed heap not trimmed yet would count too.
//!   They never wake: their executor is killed, and their namespace goes with the
//!   bench's nats-server (with `--nats` their schedule holders stay in that
//!   server's namespace and fire, an hour later, into a namespace nobody serves).
//!
//! Layout: [`timers`] (lateness), [`promises`] (completion → answer and the
//! round-trip baseline), [`sleepers`] (memory); here the executors and the waits
//! for suspension they share.

mod promises;
mod sleepers;
mod timers;

use std::time::{Duration, Instant};

use anyhow::bail;
use revenant_nats::Nats;
use revenant_types::records::WorkerStatus;
use revenant_types::{ComponentName, WorkerId};

use super::BenchArgs;
use super::client::Client;
use super::env::{ChildExecutor, Env, deploy, deploy_counter};
use super::report::Report;

const S: &str = "waiting";
const REMINDER: &str = "reminder";
const APPROVAL: &str = "approval";
const START: Duration = Duration::from_secs(60);

pub async fn run(env: &Env, a: &BenchArgs, r: &mut Report) -> anyhow::Result<()> {
    if let Err(e) = timers_and_promises(env, a, r).await {
        r.fail(
            S,
            format!("timer lateness and promises did not complete: {e:#}"),
        );
    }
    sleepers::run(env, a, r).await
}

fn worker(component: &str, name: &str) -> anyhow::Result<WorkerId> {
    Ok(WorkerId::parse(component, name)?)
}

/// A child executor on `ns` that suspends after the bench's `--suspend-after-ms`.
async fn executor(env: &Env, ns: &str, id: &str, a: &BenchArgs) -> anyhow::Result<ChildExecutor> {
    let extra = [
        "--suspend-after-ms".to_owned(),
        a.suspend_after_ms.to_string(),
    ];
    let mut exec = ChildExecutor::spawn(env, ns, id, &extra)?;
    exec.wait_started(START).await?;
    Ok(exec)
}

async fn timers_and_promises(env: &Env, a: &BenchArgs, r: &mut Report) -> anyhow::Result<()> {
    let ns = format!("{}-wait", env.namespace);
    let nats = env.connect(&ns).await?;
    deploy_counter(&nats).await?;
    deploy(&nats, REMINDER, revenant_examples::REMINDER).await?;
    deploy(&nats, APPROVAL, revenant_examples::APPROVAL).await?;
    let client = Client::new(nats).await?;
    let mut exec = executor(env, &ns, "bench-wait", a).await?;
    let result = async {
        let get = promises::round_trip(&client, a, r).await?;
        timers::measure(&client, a, r).await?;
        promises::resume(&client, a, r, &get).await
    }
    .await;
    let _ = exec.kill().await;
    result
}

/// Waits until `n` workers of `component` named `<prefix>…` are suspended by their
/// records; fails when that number stops growing for `stall`.
async fn wait_suspended(
    nats: &Nats,
    component: &str,
    prefix: &str,
    n: usize,
    stall: Duration,
) -> anyhow::Result<()> {
    let component = ComponentName::new(component)?;
    let (mut seen, mut progressed) = (0, Instant::now());
    loop {
        let suspended = nats
            .workers()
            .list(Some(&component))
            .await?
            .iter()
            .filter(|rec| {
                rec.status == WorkerStatus::Suspended && rec.id.worker.as_str().starts_with(prefix)
            })
            .count();
        if suspended >= n {
            return Ok(());
        }
        if suspended > seen {
            (seen, progressed) = (suspended, Instant::now());
        } else if progressed.elapsed() > stall {
            bail!(
                "{seen} of {n} {component}/{prefix}… workers are suspended, and no more were for {stall:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
