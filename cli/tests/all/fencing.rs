//! Fencing (issue 4): two `revenant executor` child processes with a short lease
//! TTL; the owner of a busy worker is frozen with SIGSTOP while a keyed stream
//! runs, the other executor takes the shard over and keeps answering, then the
//! stale one is resumed with SIGCONT. Proves: the stale executor cannot append
//! (its log shows the fenced append / lost lease and that it dropped the worker);
//! no oplog message stored after the takeover was written by it; the oplog has
//! no gaps, no key started or completed twice; the counter equals the distinct keys.
//!
//! Who wrote a stored oplog message is observed directly: a core subscription on
//! the worker's oplog subject sees every append attempt (stored or rejected)
//! with its reply subject `_INBOX.<per-connection id>.<token>`, which identifies
//! the writing process; stored messages are matched to attempts by payload.
//! The worker is picked on a shard below 32, which the survivor keeps when the
//! resumed executor rejoins (balancing hands over the highest shards), and the
//! shard's holder is sampled throughout in case it moved back legitimately.

use crate::common;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Executor, Load, audit_oplog, check_answers, get, owner_of, wait_all_held_by};
use futures::StreamExt;
use revenant_tests::revenant::{connect, deploy};
use revenant_tests::{NatsServer, wait_until};
use revenant_types::WorkerId;

const N: usize = 800;
const LEASE: [&str; 4] = ["--lease-ttl-ms", "800", "--lease-renew-ms", "200"];

/// Writer (reply-subject prefix), payload and arrival time of every append attempt.
type Attempts = Arc<Mutex<Vec<(String, Bytes, Instant)>>>;
/// Samples of the worker's shard holder.
type Holders = Arc<Mutex<Vec<(Instant, Option<String>)>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_resumed_stale_owner_cannot_append() {
    let _alone = common::alone().await;
    let server = NatsServer::start();
    let nats = connect(&server.options()).await;
    deploy(&nats, "counter", revenant_guests::COUNTER).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let name = (0..)
        .map(|i| format!("w{i}"))
        .find(|w| nats.shard_of(&WorkerId::parse_path(&format!("counter/{w}")).expect("id")) < 32)
        .expect("a worker");
    let worker = WorkerId::parse_path(&format!("counter/{name}")).expect("worker");
    let shard = nats.shard_of(&worker);

    let execs = [
        Executor::spawn(&server.url(), &[], "fe-a", dir.path(), &LEASE),
        Executor::spawn(&server.url(), &[], "fe-b", dir.path(), &LEASE),
    ];
    wait_all_held_by(&nats, &["fe-a", "fe-b"], Duration::from_secs(40)).await;
    let owner = owner_of(&nats, &worker).await.expect("held");
    let (stale, survivor) = if owner == "fe-a" {
        (&execs[0], &execs[1])
    } else {
        (&execs[1], &execs[0])
    };
    eprintln!("[test] {worker} (shard {shard}) owned by {owner}");

    // Spy on every append attempt to the worker's oplog subject.
    let subject = nats.namespace().oplog_subject(&worker);
    let attempts: Attempts = Arc::default();
    let mut spy = nats.client().subscribe(subject.clone()).await.expect("spy");
    nats.client().flush().await.expect("flush");
    let sink = attempts.clone();
    tokio::spawn(async move {
        while let Some(m) = spy.next().await {
            let reply = m
                .reply
                .as_ref()
                .map(|r| {
                    r.as_str()
                        .rsplit_once('.')
                        .map_or("", |(p, _)| p)
                        .to_owned()
                })
                .unwrap_or_default();
            sink.lock()
                .expect("lock")
                .push((reply, m.payload.clone(), Instant::now()));
        }
    });
    // Sample the shard's holder every 25 ms.
    let holders: Holders = Arc::default();
    let (h, n2, w2) = (holders.clone(), nats.clone(), worker.clone());
    let sampler = tokio::spawn(async move {
        loop {
            let o = owner_of(&n2, &w2).await;
            h.lock().expect("lock").push((Instant::now(), o));
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    });

    let mut load = Load::start(&nats, "counter", std::slice::from_ref(&name), 4, N);
    load.wait_answered(150, Duration::from_secs(60)).await;
    let stopped_at = Instant::now();
    stale.signal(libc::SIGSTOP);
    let at_stop = load.answered();
    eprintln!("[test] SIGSTOPped {} after {at_stop} answers", stale.id);
    wait_until(
        "the survivor to take the shard over",
        Duration::from_secs(20),
        || async {
            (owner_of(&nats, &worker).await.as_deref() == Some(survivor.id.as_str())).then_some(())
        },
    )
    .await;
    let taken_at = Instant::now();
    load.wait_answered(at_stop + 100, Duration::from_secs(30))
        .await;
    eprintln!(
        "[test] lease taken over {:?} after SIGSTOP; answers resumed {:?} after SIGSTOP",
        taken_at - stopped_at,
        common::takeover_time(&load.snapshot(), stopped_at)
    );
    let resumed_at = Instant::now();
    stale.signal(libc::SIGCONT);
    let evidence = wait_until(
        "the resumed executor to notice it lost the worker",
        Duration::from_secs(15),
        || async {
            let logs = stale.logs();
            let fenced = logs.lines().filter(|l| l.contains("fenced")).count();
            let lost = logs.lines().filter(|l| l.contains("lease lost")).count();
            (fenced + lost > 0)
                .then(|| format!("{fenced} fenced-append line(s), {lost} lease-lost line(s)"))
        },
    )
    .await;
    eprintln!("[test] stale executor after SIGCONT: {evidence}");

    let (answered, unanswered) = tokio::time::timeout(Duration::from_secs(90), load.finish())
        .await
        .expect("stream finished");
    sampler.abort();
    let keys = check_answers(&answered, &unanswered);
    assert_eq!(keys[&name].len(), N);
    assert_eq!(
        get(&nats, &worker).await,
        N as u64,
        "counter = distinct keys"
    );
    let completed: HashSet<String> = audit_oplog(&nats, &worker)
        .await
        .into_iter()
        .filter(|k| !k.starts_with("get-"))
        .collect();
    assert_eq!(completed, keys[&name], "oplog keys = callers' keys");

    // Attribute every stored oplog message to the process that appended it.
    let attempts = attempts.lock().expect("lock").clone();
    let before: HashSet<&str> = attempts
        .iter()
        .filter(|a| a.2 < stopped_at)
        .map(|a| a.0.as_str())
        .collect();
    assert_eq!(before.len(), 1, "one writer before the SIGSTOP: {before:?}");
    let stale_writer = before.into_iter().next().expect("writer").to_owned();
    let by_payload: HashMap<&Bytes, (&str, Instant)> = attempts
        .iter()
        .map(|a| (&a.1, (a.0.as_str(), a.2)))
        .collect();
    let stream = nats
        .jetstream()
        .get_stream(nats.namespace().oplog_stream())
        .await
        .expect("oplog stream");
    let (mut seq, mut stored) = (1, Vec::new());
    while let Ok(m) = stream
        .direct_get_next_for_subject(subject.as_str(), Some(seq))
        .await
    {
        seq = m.sequence + 1;
        let (writer, at) = *by_payload.get(&m.payload).unwrap_or_else(|| {
            panic!(
                "stored oplog message {} was never seen published",
                m.sequence
            )
        });
        stored.push((m.sequence, writer == stale_writer, at));
    }
    // If the stale executor legitimately got the shard back later (a new lease), its appends from then on are fine.
    let regained = holders
        .lock()
        .expect("lock")
        .iter()
        .find(|(t, o)| *t > resumed_at && o.as_deref() == Some(stale.id.as_str()))
        .map(|(t, _)| *t);
    let window_end = regained.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
    let stale_after: Vec<u64> = stored
        .iter()
        .filter(|(_, s, at)| *s && *at > resumed_at && *at < window_end)
        .map(|(q, ..)| *q)
        .collect();
    let stale_tries = attempts
        .iter()
        .filter(|a| a.0 == stale_writer && a.2 > resumed_at && a.2 < window_end)
        .count();
    let survivor_writes = stored.iter().filter(|(_, s, _)| !*s).count();
    eprintln!(
        "[test] {} stored oplog messages: {} by the stale executor before SIGSTOP, {survivor_writes} by the survivor; \
         the stale executor tried {stale_tries} append(s) after SIGCONT, stored: {stale_after:?}; regained the shard: {}",
        stored.len(),
        stored
            .iter()
            .filter(|(_, s, at)| *s && *at < stopped_at + Duration::from_millis(50))
            .count(),
        regained.is_some()
    );
    assert!(survivor_writes > 0, "the survivor never appended");
    assert!(
        stale_after.is_empty(),
        "oplog messages {stale_after:?} were appended by the stale executor after the takeover"
    );
    // Its workers of the shard stopped: its heartbeat no longer lists the shard (unless regained).
    if regained.is_none() {
        wait_until(
            "the stale executor to stop listing the shard",
            Duration::from_secs(10),
            || async {
                let live = nats.executors().live(5_000).await.ok()?;
                live.iter()
                    .find(|r| r.id.as_str() == stale.id)
                    .filter(|r| !r.shards.contains(&shard))
                    .map(|_| ())
            },
        )
        .await;
    }
}
