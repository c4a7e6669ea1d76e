//! Balancing (issue 4): one `revenant executor` child process takes all 64
//! shards, then two more join while a keyed `add(1)` stream over 50 workers runs
//! throughout. Proves: the shards spread to within one of even (21/21/22) by
//! graceful handover; no invocation is lost or applied twice while shards move
//! (every caller answered, per worker the totals seen are exactly 1..=n, the
//! final `get` equals the worker's distinct keys, the oplogs are gap- and
//! duplicate-free); SIGTERM of one executor, whose lease TTL is 20 s, hands its
//! shards over gracefully: the other two hold all 64 well before the TTL could
//! have expired, and it exits cleanly. `revenant status --json` agrees.

use crate::common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{
    Executor, Load, assert_applied_once, check_answers, shard_owners, tally, wait_all_held_by,
};
use revenant_tests::NatsServer;
use revenant_tests::revenant::{connect, deploy};
use revenant_types::WorkerId;

const WORKERS: usize = 50;
/// Every executor gets a long TTL: any wait for a lease to expire would show as ≥ 20 s.
const LONG_TTL: [&str; 2] = ["--lease-ttl-ms", "20000"];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shards_spread_evenly_and_sigterm_hands_over_without_waiting_for_expiry() {
    let _alone = common::alone().await;
    let server = NatsServer::start();
    let nats = connect(&server.options()).await;
    deploy(&nats, "counter", revenant_guests::COUNTER).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let names: Vec<String> = (0..WORKERS).map(|i| format!("b{i}")).collect();

    let t0 = Instant::now();
    let mut execs = vec![Executor::spawn(
        &server.url(),
        &[],
        "bal-1",
        dir.path(),
        &LONG_TTL,
    )];
    wait_all_held_by(&nats, &["bal-1"], Duration::from_secs(30)).await;
    eprintln!("[test] bal-1 holds all 64 shards after {:?}", t0.elapsed());

    let load = Load::start(&nats, "counter", &names, 6, usize::MAX);
    load.wait_answered(100, Duration::from_secs(60)).await;
    let joined_at = Instant::now();
    execs.push(Executor::spawn(
        &server.url(),
        &[],
        "bal-2",
        dir.path(),
        &LONG_TTL,
    ));
    execs.push(Executor::spawn(
        &server.url(),
        &[],
        "bal-3",
        dir.path(),
        &LONG_TTL,
    ));

    // Within one of even: 21/21/22 (the last seen split is in the failure message).
    let ids = ["bal-1", "bal-2", "bal-3"];
    let deadline = joined_at + Duration::from_secs(45);
    let mut last: BTreeMap<String, usize>;
    let mut history: Vec<(Duration, BTreeMap<String, usize>)> = Vec::new();
    loop {
        let owners = shard_owners(&nats).await;
        last = tally(&owners);
        if history.last().is_none_or(|(_, t)| *t != last) {
            history.push((joined_at.elapsed(), last.clone()));
        }
        let all_held = owners
            .iter()
            .all(|o| o.as_deref().is_some_and(|o| ids.contains(&o)));
        let counts: Vec<usize> = ids
            .iter()
            .map(|i| last.get(*i).copied().unwrap_or(0))
            .collect();
        let (min, max) = (
            counts.iter().min().copied().unwrap_or(0),
            counts.iter().max().copied().unwrap_or(0),
        );
        if all_held && max - min <= 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "shards not within one of even after 45 s; last split {last:?}; history {history:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "[test] balanced {last:?} {:?} after two executors joined; ({} answers so far); history {history:?}",
        joined_at.elapsed(),
        load.answered()
    );

    let mid = load.answered();
    load.wait_answered(mid + 100, Duration::from_secs(30)).await;

    // SIGTERM bal-2: graceful handover, no waiting for its 20 s leases to expire.
    let termed_at = Instant::now();
    execs[1].signal(libc::SIGTERM);
    let split = wait_all_held_by(&nats, &["bal-1", "bal-3"], Duration::from_secs(30)).await;
    let handover = termed_at.elapsed();
    let status = execs[1]
        .wait_exit(Duration::from_secs(20))
        .expect("bal-2 exits after SIGTERM");
    eprintln!(
        "[test] SIGTERM → the other two hold all 64 shards in {handover:?} ({split:?}); bal-2 exited {status} after {:?}",
        termed_at.elapsed()
    );
    assert!(
        handover < Duration::from_secs(5),
        "handover took {handover:?}: waited for lease expiry?"
    );
    assert!(status.success(), "bal-2 exit status {status}");
    assert!(
        execs[1].logs().contains("released every shard"),
        "bal-2 did not log its release"
    );

    let after = load.answered();
    load.wait_answered(after + 100, Duration::from_secs(30))
        .await;
    let (answered, unanswered) = tokio::time::timeout(Duration::from_secs(60), load.stop())
        .await
        .expect("stream stopped");
    let total = answered.len();
    let keys = check_answers(&answered, &unanswered);
    eprintln!(
        "[test] {total} invocations answered over {} workers in {:?}",
        keys.len(),
        t0.elapsed()
    );
    for name in &names {
        let w = WorkerId::parse_path(&format!("counter/{name}")).expect("worker");
        let expected = keys.get(name).cloned().unwrap_or_default();
        assert_applied_once(&nats, &w, &expected).await;
    }

    // `revenant status --json` shows the two live executors with all 64 shards between them.
    // It reads the heartbeats in RVN_EXECUTORS, which each executor rewrites on its next
    // lease-renewal tick after claiming: they catch up with the leases, so wait for them.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_revenant"))
            .args(["--nats", &server.url(), "status", "--json"])
            .output()
            .expect("revenant status");
        assert!(
            out.status.success(),
            "revenant status failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let live: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status JSON");
        let live = live.as_array().expect("an array of executors");
        let listed: Vec<&str> = live.iter().filter_map(|e| e["id"].as_str()).collect();
        let shards: usize = live
            .iter()
            .map(|e| e["shards"].as_array().map_or(0, Vec::len))
            .sum();
        if listed == ["bal-1", "bal-3"] && shards == 64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after 10 s waiting for `revenant status` to list bal-1 and bal-3 with all 64 \
             shards between them; it lists {listed:?} with {shards} shards held"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
