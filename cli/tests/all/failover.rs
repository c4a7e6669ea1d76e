//! Failover (issue 4): two `revenant executor` child processes share the 64
//! shards; the one owning `counter/w1` is killed with SIGKILL in the middle of a
//! stream of 1,000 keyed `add(1)` invocations. Proves: the survivor claims the
//! dead executor's expired leases (all 64 shards) and takes the worker over;
//! every caller gets an answer; the totals seen are exactly 1..=1000; the final
//! `get` is 1,000; the oplog holds exactly 1,000 completed invocations with
//! distinct keys and no gaps. Prints the takeover time (kill → next answer),
//! which the defaults (1 s lease TTL, 250 ms renewal) keep near a second.

use crate::common;

use std::time::{Duration, Instant};

use common::{
    Executor, Load, assert_applied_once, check_answers, free_local_addr, metric, owner_of, tally,
    wait_all_held_by,
};
use revenant_tests::revenant::{connect, deploy};
use revenant_tests::{NatsServer, wait_until};
use revenant_types::WorkerId;

const N: usize = 1_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn survivor_takes_over_a_sigkilled_owner_mid_stream() {
    let _alone = common::alone().await;
    let server = NatsServer::start();
    let nats = connect(&server.options()).await;
    deploy(&nats, "counter", revenant_guests::COUNTER).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let worker = WorkerId::parse_path("counter/w1").expect("worker");

    let t0 = Instant::now();
    let metrics = [free_local_addr(), free_local_addr()];
    let mut execs = [
        Executor::spawn(
            &server.url(),
            &[],
            "fo-a",
            dir.path(),
            &["--metrics-listen", &metrics[0]],
        ),
        Executor::spawn(
            &server.url(),
            &[],
            "fo-b",
            dir.path(),
            &["--metrics-listen", &metrics[1]],
        ),
    ];
    let split = wait_all_held_by(&nats, &["fo-a", "fo-b"], Duration::from_secs(40)).await;
    eprintln!(
        "[test] both executors hold shards after {:?}: {split:?}",
        t0.elapsed()
    );

    let owner = owner_of(&nats, &worker).await.expect("w1's shard is held");
    let (dead, survivor) = if owner == "fo-a" { (0, 1) } else { (1, 0) };
    let survivor_id = execs[survivor].id.clone();
    eprintln!(
        "[test] {worker} is on shard {} owned by {owner}",
        nats.shard_of(&worker)
    );

    let mut load = Load::start(&nats, "counter", &["w1".to_owned()], 4, N);
    load.wait_answered(N / 3, Duration::from_secs(60)).await;
    let before = load.answered();
    let killed_at = Instant::now();
    execs[dead].kill();
    eprintln!("[test] SIGKILLed {owner} after {before} answers");

    let held = wait_all_held_by(&nats, &[&survivor_id], Duration::from_secs(20)).await;
    let claimed_after = killed_at.elapsed();
    let (answered, unanswered) = tokio::time::timeout(Duration::from_secs(90), load.finish())
        .await
        .expect("the stream did not finish within 90 s");
    let takeover = common::takeover_time(&answered, killed_at);
    let retried = answered.iter().filter(|a| a.attempts > 1).count();
    eprintln!(
        "[test] survivor {survivor_id} held all shards {claimed_after:?} after the kill ({held:?}); \
         takeover (kill → next answer) {takeover:?}; {} answered in {:?}; {retried} caller(s) re-published",
        answered.len(),
        load.started.elapsed()
    );

    assert_eq!(
        owner_of(&nats, &worker).await.as_deref(),
        Some(survivor_id.as_str())
    );
    let keys = check_answers(&answered, &unanswered);
    assert_eq!(keys["w1"].len(), N, "distinct keys answered");
    assert_applied_once(&nats, &worker, &keys["w1"]).await;
    // Generous for a loaded 2-core machine; the default lease TTL is 1 s.
    assert!(
        takeover < Duration::from_secs(10),
        "takeover took {takeover:?}"
    );
    assert_eq!(
        tally(&common::shard_owners(&nats).await).get(&survivor_id),
        Some(&64)
    );
    // The survivor's metrics report the failover: w1's shard was taken over from a lapsed
    // lease and answered on, all 64 shards are held, the invocations were counted.
    let addr = &metrics[survivor];
    let held = wait_until(
        "the survivor's metrics to show 64 shards",
        Duration::from_secs(5),
        || async {
            metric(addr, "revenant_executor_shards_held")
                .await
                .filter(|n| *n == 64.0)
        },
    )
    .await;
    let failovers = metric(addr, "revenant_executor_failover_seconds_count")
        .await
        .expect("failover histogram");
    let failover_sum = metric(addr, "revenant_executor_failover_seconds_sum")
        .await
        .expect("failover histogram");
    let lapsed = metric(addr, "revenant_executor_shard_claims_total{how=\"lapsed\"}")
        .await
        .expect("lapsed claims");
    let ok = metric(addr, "revenant_executor_invocations_total{outcome=\"ok\"}")
        .await
        .expect("invocations");
    eprintln!(
        "[test] survivor metrics: {held} shards held, {lapsed} claimed from a lapsed lease, \
         {failovers} failover(s) answered, mean failover {:.3} s, {ok} invocations ok",
        failover_sum / failovers.max(1.0)
    );
    assert!(
        failovers >= 1.0,
        "w1's shard was taken over and answered on"
    );
    assert!(lapsed >= failovers, "every failover is a lapsed claim");
    assert!(ok > 0.0, "the survivor counted the invocations it answered");
    // The survivor's log names the shards it claimed.
    wait_until(
        "the survivor to log its shards",
        Duration::from_secs(5),
        || async {
            execs[survivor]
                .logs()
                .contains("holding shards")
                .then_some(())
        },
    )
    .await;
}
