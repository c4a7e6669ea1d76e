//! Soak (issue 11): three `revenant executor` child processes, 100 workers,
//! 10,000 keyed invocations from 16 concurrent callers of which 1 % are poison
//! (arguments that do not fit the function), while one executor at a time is
//! killed with SIGKILL and replaced, at three points of the run (after 2,000,
//! 4,500 and 7,000 invocations were issued: by progress, not by time). Proves: every caller is
//! answered; each worker's `add(1)` totals are exactly 1..=n (nothing lost or
//! applied twice); every poison input is answered `invalid-arguments`, at once
//! on a retry, and dead-lettered with its reason.

use crate::common;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Answered, Executor, check_answers, invoke_retrying, wait_all_held_by};
use futures::StreamExt;
use revenant_nats::Nats;
use revenant_tests::NatsServer;
use revenant_tests::revenant::{connect, deploy};
use revenant_types::WorkerId;
use serde_json::json;

const WORKERS: usize = 100;
const INVOCATIONS: usize = 10_000;
const CALLERS: usize = 16;
/// When an executor is killed: after this many invocations were issued.
const KILL_AT: [usize; 3] = [2_000, 4_500, 7_000];
/// One in this many invocations is poison.
const POISON_EVERY: usize = 100;

/// Keys of every dead letter in `RVN_DEAD` with their reason (`Rvn-Error-Kind`).
async fn dead_letters(nats: &Nats) -> BTreeMap<String, String> {
    let stream = nats
        .jetstream()
        .get_stream(nats.namespace().dead_stream())
        .await
        .expect("dead-letter stream");
    let consumer = stream
        .create_consumer(
            revenant_nats::async_nats::jetstream::consumer::pull::OrderedConfig {
                ..Default::default()
            },
        )
        .await
        .expect("ordered consumer");
    let pending = stream.get_info().await.expect("info").state.messages;
    let mut messages = consumer.messages().await.expect("messages");
    let mut out = BTreeMap::new();
    for _ in 0..pending {
        let m = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .expect("a dead letter")
            .expect("stream")
            .expect("message");
        let h = m.headers.as_ref().expect("headers");
        let key = h.get("Rvn-Original-Nats-Msg-Id").map(|v| v.to_string());
        let kind = h.get("Rvn-Error-Kind").map(|v| v.to_string());
        if let (Some(key), Some(kind)) = (key, kind) {
            out.insert(key, kind);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_invocations_with_poison_and_kills_are_each_answered_once() {
    let _alone = common::alone().await;
    let server = NatsServer::start();
    let nats = connect(&server.options()).await;
    deploy(&nats, "counter", revenant_guests::COUNTER).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let (url, path) = (server.url(), dir.path().to_path_buf());
    let spawn = move |n: usize| Executor::spawn(&url, &[], &format!("soak-{n}"), &path, &[]);
    let mut executors: Vec<Executor> = (1..=3).map(&spawn).collect();
    wait_all_held_by(
        &nats,
        &["soak-1", "soak-2", "soak-3"],
        Duration::from_secs(60),
    )
    .await;

    let started = Instant::now();
    let issued = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let callers: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (nats, issued) = (nats.clone(), issued.clone());
            tokio::spawn(async move {
                let mut mine: Vec<(Answered, bool)> = Vec::new();
                let mut unanswered = Vec::new();
                loop {
                    let i = issued.fetch_add(1, Ordering::SeqCst);
                    if i >= INVOCATIONS {
                        break;
                    }
                    let worker = format!("w{}", i % WORKERS);
                    let id = WorkerId::parse("counter", &worker).unwrap();
                    let poison = i % POISON_EVERY == POISON_EVERY - 1;
                    let args = if poison {
                        json!(["not a number"])
                    } else {
                        json!([1])
                    };
                    let key = format!("soak-{i}");
                    let per = Duration::from_secs(3);
                    match invoke_retrying(
                        &nats,
                        &id,
                        "add",
                        &args,
                        &key,
                        per,
                        Duration::from_secs(60),
                    )
                    .await
                    {
                        Some((answer, attempts)) => mine.push((
                            Answered {
                                key,
                                worker,
                                answer,
                                attempts,
                                at: Instant::now(),
                            },
                            poison,
                        )),
                        None => unanswered.push(key),
                    }
                }
                (mine, unanswered)
            })
        })
        .collect();

    // Kill one executor and start a new one in its place at three points of the run.
    let killer = {
        let (done, issued) = (done.clone(), issued.clone());
        tokio::spawn(async move {
            let mut kills = 0;
            for (next, at) in (4..).zip(KILL_AT) {
                while issued.load(Ordering::SeqCst) < at && !done.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                if done.load(Ordering::SeqCst) {
                    break;
                }
                let victim = kills % executors.len();
                executors[victim].kill();
                executors[victim] = spawn(next);
                eprintln!("[test] killed an executor, started soak-{next}");
                kills += 1;
            }
            (kills, executors)
        })
    };

    let mut answered = Vec::new();
    let mut poison_answers = Vec::new();
    let mut unanswered = Vec::new();
    for c in callers {
        let (mine, missing) = c.await.expect("caller");
        unanswered.extend(missing);
        for (a, poison) in mine {
            if poison {
                poison_answers.push(a);
            } else {
                answered.push(a);
            }
        }
    }
    done.store(true, Ordering::SeqCst);
    let (kills, _executors) = killer.await.expect("killer");
    eprintln!(
        "[test] {} invocations answered in {:?} with {kills} executor kills",
        answered.len() + poison_answers.len(),
        started.elapsed()
    );
    assert_eq!(kills, KILL_AT.len(), "an executor was killed at each point");

    // Every valid add applied once per worker.
    let keys = check_answers(&answered, &unanswered);
    assert_eq!(
        keys.values().map(HashSet::len).sum::<usize>(),
        INVOCATIONS - INVOCATIONS / POISON_EVERY
    );
    // Every poison input answered invalid-arguments, and dead-lettered with that reason.
    assert_eq!(poison_answers.len(), INVOCATIONS / POISON_EVERY);
    for a in &poison_answers {
        let err = a.answer.as_ref().expect_err("poison is an error");
        assert_eq!(err["kind"], "invalid-arguments", "{}: {err}", a.key);
    }
    let dead = dead_letters(&nats).await;
    for a in &poison_answers {
        assert_eq!(
            dead.get(&a.key).map(String::as_str),
            Some("invalid-arguments"),
            "{} was not dead-lettered with its reason",
            a.key
        );
    }
}
