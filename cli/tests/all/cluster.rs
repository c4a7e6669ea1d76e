//! A 3-node JetStream cluster (issue 4): every stream and bucket with 3
//! replicas, three `revenant executor` child processes each given all the
//! nodes' URLs (rotated so each lists a different node first; the NATS client
//! shuffles them, so the node each one actually uses is read from /proc and
//! printed). Under a keyed `add(1)` stream over 12 workers, the node leading
//! the oplog stream and one executor are killed with SIGKILL at the same time.
//! Proves: nothing is lost (every caller answered, each worker's final `get`
//! equals its distinct keys, every key completed in its oplog) and nothing is
//! applied twice (totals seen per worker are exactly 1..=n; no key started or
//! completed twice; oplog indexes contiguous). Executors run with the default
//! lease timing (1 s TTL); `RVN_TEST_CLUSTER_LEASE=<ttl-ms>,<renew-ms>` overrides
//! it for diagnosis.

use crate::common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{Executor, Load, assert_applied_once, check_answers, wait_all_held_by};
use revenant_tests::NatsCluster;
use revenant_tests::revenant::{connect, deploy};
use revenant_types::WorkerId;

const WORKERS: usize = 12;

/// Remote TCP ports of `pid`'s sockets (its socket inodes looked up in /proc/net/tcp{,6}).
fn remote_ports(pid: i32) -> HashSet<u16> {
    let inodes: HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| std::fs::read_link(e.path()).ok())
                .filter_map(|l| {
                    l.to_str()?
                        .strip_prefix("socket:[")?
                        .strip_suffix(']')
                        .map(str::to_owned)
                })
                .collect()
        })
        .unwrap_or_default();
    let mut ports = HashSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        for line in std::fs::read_to_string(table)
            .unwrap_or_default()
            .lines()
            .skip(1)
        {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() > 9
                && inodes.contains(cols[9])
                && let Some(port) = cols[2]
                    .rsplit_once(':')
                    .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
            {
                ports.insert(port);
            }
        }
    }
    ports
}

/// Prints where an unanswered key got to: its worker's oplog, `RVN_RESULTS`, and the
/// shard consumer's state (so a failure says which hop lost it).
async fn diagnose(nats: &revenant_nats::Nats, names: &[String], key: &str) {
    let i: usize = key
        .rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let w = WorkerId::parse_path(&format!("counter/{}", names[i % names.len()])).expect("worker");
    let shard = nats.shard_of(&w);
    let in_oplog: Vec<String> = match nats.oplog().read(&w, 1).await {
        Ok(read) => read
            .entries
            .iter()
            .filter(|(_, e)| format!("{e:?}").contains(key))
            .map(|(index, e)| {
                format!(
                    "{index}: {}",
                    format!("{e:?}").chars().take(120).collect::<String>()
                )
            })
            .collect(),
        Err(e) => vec![format!("oplog unreadable: {e}")],
    };
    let result = nats.results().get(&w, key).await.map(|r| r.is_some());
    let consumer = match nats
        .jetstream()
        .get_stream(nats.namespace().invoke_stream())
        .await
    {
        Ok(s) => match s.consumer_info(format!("shard-{shard}")).await {
            Ok(c) => format!(
                "ack floor {}, delivered {}, ack pending {}, redelivered {}, pending {}",
                c.ack_floor.stream_sequence,
                c.delivered.stream_sequence,
                c.num_ack_pending,
                c.num_redelivered,
                c.num_pending
            ),
            Err(e) => format!("consumer info: {e}"),
        },
        Err(e) => format!("invoke stream: {e}"),
    };
    eprintln!(
        "[test] unanswered {key}: worker {w} on shard {shard}; oplog entries naming it: {in_oplog:?}; \
         result stored: {result:?}; consumer shard-{shard}: {consumer}"
    );
}

// Once intermittent (a caller unanswered within its 45 s): a nak lost while the stream
// leader was being elected left the invocation to the 60 s ack wait. The ack wait is now
// 10 s and executors keep what they hold alive; `diagnose` prints where a lost key got to.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn node_and_executor_killed_under_load_lose_nothing_and_apply_nothing_twice() {
    let _alone = common::alone().await;
    let t0 = Instant::now();
    let mut cluster = NatsCluster::start(3);
    let opts = cluster.options();
    assert_eq!(opts.replicas, 3);
    let nats = connect(&opts).await;
    deploy(&nats, "counter", revenant_guests::COUNTER).await;
    eprintln!(
        "[test] cluster up and provisioned (R3) in {:?}",
        t0.elapsed()
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let urls = cluster.urls();
    let node_ports: Vec<u16> = (0..3).map(|i| cluster.node(i).port()).collect();

    // Default lease timing unless RVN_TEST_CLUSTER_LEASE="<ttl-ms>,<renew-ms>" (for diagnosis).
    let lease: Vec<String> = match std::env::var("RVN_TEST_CLUSTER_LEASE")
        .ok()
        .and_then(|v| v.split_once(',').map(|(t, r)| (t.to_owned(), r.to_owned())))
    {
        Some((ttl, renew)) => vec![
            "--lease-ttl-ms".into(),
            ttl,
            "--lease-renew-ms".into(),
            renew,
        ],
        None => vec![],
    };
    let lease: Vec<&str> = lease.iter().map(String::as_str).collect();
    let ids = ["cl-0", "cl-1", "cl-2"];
    let mut execs: Vec<Executor> = (0..3)
        .map(|i| {
            let mut rotated = urls.clone();
            rotated.rotate_left(i);
            Executor::spawn(
                &rotated.join(","),
                &["--replicas", "3"],
                ids[i],
                dir.path(),
                &lease,
            )
        })
        .collect();
    let split = wait_all_held_by(&nats, &ids, Duration::from_secs(60)).await;
    let on_node: Vec<Option<usize>> = execs
        .iter()
        .map(|e| {
            let ports = remote_ports(e.pid());
            node_ports.iter().position(|p| ports.contains(p))
        })
        .collect();
    eprintln!(
        "[test] executors hold {split:?} after {:?}; connected to nodes {on_node:?}",
        t0.elapsed()
    );

    let names: Vec<String> = (0..WORKERS).map(|i| format!("c{i}")).collect();
    let load = Load::start(&nats, "counter", &names, 6, usize::MAX);
    load.wait_answered(150, Duration::from_secs(60)).await;

    // Kill the oplog stream's leader node and an executor (not one on that node, if possible).
    let mut oplog = nats
        .jetstream()
        .get_stream(nats.namespace().oplog_stream())
        .await
        .expect("oplog stream");
    let leader = oplog
        .info()
        .await
        .expect("stream info")
        .cluster
        .as_ref()
        .and_then(|c| c.leader.clone())
        .expect("a leader");
    let node: usize = leader
        .trim_start_matches('n')
        .parse()
        .expect("node name n<i>");
    let victim = (0..3).find(|i| on_node[*i] != Some(node)).unwrap_or(0);
    let before = load.answered();
    let killed_at = Instant::now();
    cluster.node(node).kill();
    execs[victim].kill();
    eprintln!(
        "[test] SIGKILLed node n{node} (oplog leader; executors on it: {:?}) and executor {} after {before} answers",
        (0..3)
            .filter(|i| on_node[*i] == Some(node))
            .map(|i| ids[i])
            .collect::<Vec<_>>(),
        ids[victim]
    );

    load.wait_answered(before + 300, Duration::from_secs(60))
        .await;
    let (answered, unanswered) = tokio::time::timeout(Duration::from_secs(90), load.stop())
        .await
        .expect("stream stopped");
    let retried = answered.iter().filter(|a| a.attempts > 1).count();
    eprintln!(
        "[test] answers resumed {:?} after the kills (end of the longest stall); {} answered; {retried} caller(s) re-published their key",
        common::takeover_time(&answered, killed_at),
        answered.len()
    );

    let survivors: Vec<&str> = (0..3).filter(|i| *i != victim).map(|i| ids[i]).collect();
    let held = wait_all_held_by(&nats, &survivors, Duration::from_secs(30)).await;
    eprintln!(
        "[test] survivors hold {held:?} {:?} after the kills",
        killed_at.elapsed()
    );

    for key in &unanswered {
        diagnose(&nats, &names, key).await;
    }
    let keys = check_answers(&answered, &unanswered);
    for name in &names {
        let w = WorkerId::parse_path(&format!("counter/{name}")).expect("worker");
        assert_applied_once(&nats, &w, &keys[name]).await;
    }
    eprintln!("[test] done in {:?}", t0.elapsed());
}
