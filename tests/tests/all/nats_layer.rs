//! The NATS layer against a real nats-server: provisioning, fenced oplog
//! appends, ordered reads, shard leases, the partition transform and name
//! validation. Every test starts its own server.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use futures::StreamExt;
use revenant_nats::async_nats::jetstream::consumer::{DeliverPolicy, pull};
use revenant_nats::revenant_types::codec::OplogBatch;
use revenant_nats::revenant_types::config::{LeaseOptions, NatsOptions};
use revenant_nats::revenant_types::names::{ExecutorId, NameError, WorkerId};
use revenant_nats::revenant_types::oplog::OplogEntry;
use revenant_nats::{AppendError, Error, LeaseError, Namespace, Nats, ReadStrategy};
use revenant_tests::{NatsServer, wait_until};

fn worker(c: &str, w: &str) -> WorkerId {
    WorkerId::parse(c, w).unwrap()
}

fn log(i: u64) -> OplogEntry {
    OplogEntry::Log {
        at: i,
        stream: "stdout".into(),
        message: format!("line {i}"),
    }
}

async fn connect(opts: &NatsOptions) -> Nats {
    let nats = Nats::connect(opts).await.expect("connect");
    nats.provision().await.expect("provision");
    nats
}

#[tokio::test]
async fn provisioning_twice_is_a_noop_and_a_changed_shard_count_is_refused() {
    let server = NatsServer::start();
    let opts = NatsOptions {
        shards: 16,
        ..server.options()
    };
    let nats = Nats::connect(&opts).await.unwrap();

    let first = nats.provision_report().await.unwrap();
    let total = first.created.len();
    for name in [
        "RVN_INVOKE",
        "RVN_OPLOG",
        "RVN_DEAD",
        "KV_RVN_SHARDS",
        "KV_RVN_EXECUTORS",
        "KV_RVN_WORKERS",
        "KV_RVN_COMPONENTS",
        "KV_RVN_RESULTS",
        "KV_RVN_PROMISES",
        "KV_RVN_SCHEDULES",
        "KV_RVN_SUBSCRIPTIONS",
        "OBJ_RVN_COMPONENTS",
        "OBJ_RVN_SNAPSHOTS",
    ] {
        assert!(
            first.created.iter().any(|c| c == name),
            "{name} not created: {first:?}"
        );
    }
    assert!(
        first.updated.is_empty() && first.unchanged.is_empty(),
        "{first:?}"
    );
    // The result index (derived data) is written without an fsync of its own on one
    // file-backed server; the oplog and the invocations keep the server's durability.
    let persist = |name: &'static str| {
        let nats = nats.clone();
        async move {
            let mut s = nats.jetstream().get_stream(name).await.unwrap();
            s.info().await.unwrap().config.persist_mode
        }
    };
    use revenant_nats::async_nats::jetstream::stream::PersistenceMode;
    assert_eq!(
        persist("KV_RVN_RESULTS").await,
        Some(PersistenceMode::Async)
    );
    for name in ["RVN_OPLOG", "RVN_INVOKE"] {
        assert_ne!(persist(name).await, Some(PersistenceMode::Async), "{name}");
    }
    let second = nats.provision_report().await.unwrap();
    assert!(
        second.created.is_empty() && second.updated.is_empty(),
        "second pass changed something: {second:?}"
    );
    assert_eq!(second.unchanged.len(), total);

    // A managed setting that changed is updated in place, once.
    let longer_ttl = Nats::connect(&NatsOptions {
        results_ttl_secs: 60,
        ..opts.clone()
    })
    .await
    .unwrap();
    assert_eq!(
        longer_ttl.provision_report().await.unwrap().updated,
        vec!["KV_RVN_RESULTS".to_owned()]
    );
    assert!(
        longer_ttl
            .provision_report()
            .await
            .unwrap()
            .updated
            .is_empty()
    );

    // The shard count is fixed per namespace.
    let resharded = Nats::connect(&NatsOptions {
        shards: 32,
        ..opts.clone()
    })
    .await
    .unwrap();
    match resharded.provision().await {
        Err(e @ Error::ShardCountMismatch { .. }) => {
            let text = e.to_string();
            assert!(text.contains("16") && text.contains("32"), "{text}");
        }
        other => panic!("expected ShardCountMismatch, got {other:?}"),
    }
    // Storage cannot change in place either.
    let memory = NatsOptions {
        storage: revenant_nats::revenant_types::config::StorageKind::Memory,
        ..opts.clone()
    };
    let err = Nats::connect(&memory)
        .await
        .unwrap()
        .provision()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Incompatible {
                field: "storage",
                ..
            }
        ),
        "{err}"
    );

    // Another namespace on the same server is independent.
    let other = Nats::connect(&NatsOptions {
        namespace: "other".into(),
        ..opts
    })
    .await
    .unwrap();
    assert_eq!(other.provision_report().await.unwrap().created.len(), total);
}

#[tokio::test]
async fn two_writers_with_the_same_expected_sequence_exactly_one_wins() {
    let server = NatsServer::start();
    let a = connect(&server.options()).await;
    let b = Nats::connect(&server.options()).await.unwrap();
    let w = worker("counter", "w1");

    let first = OplogBatch {
        first: 1,
        entries: vec![log(1)],
    };
    let seq = a.oplog().append(&w, 0, &first).await.unwrap();
    assert!(seq > 0);

    for round in 0..20u64 {
        let last = a.oplog().last_seq(&w).await.unwrap();
        let next = a.oplog().read(&w, 1).await.unwrap().next_index;
        let (ba, bb) = (
            OplogBatch {
                first: next,
                entries: vec![log(1000 + round)],
            },
            OplogBatch {
                first: next,
                entries: vec![log(2000 + round)],
            },
        );
        let (oa, ob) = (a.oplog(), b.oplog());
        let (ra, rb) = tokio::join!(oa.append(&w, last, &ba), ob.append(&w, last, &bb));
        let (won, lost) = match (ra, rb) {
            (Ok(s), Err(e)) | (Err(e), Ok(s)) => (s, e),
            other => panic!("round {round}: expected exactly one winner, got {other:?}"),
        };
        match lost {
            AppendError::Fenced { expected, actual } => {
                assert_eq!(expected, last);
                assert_eq!(actual, Some(won));
            }
            other => panic!("expected Fenced, got {other:?}"),
        }
    }
    // A stale writer stays fenced; the oplog has exactly one entry per round.
    let stale = a
        .oplog()
        .append(
            &w,
            seq,
            &OplogBatch {
                first: 2,
                entries: vec![log(9)],
            },
        )
        .await;
    assert!(
        matches!(stale, Err(AppendError::Fenced { .. })),
        "{stale:?}"
    );
    // 0 means "the subject must be empty".
    let not_empty = b.oplog().append(&w, 0, &first).await;
    assert!(
        matches!(not_empty, Err(AppendError::Fenced { expected: 0, .. })),
        "{not_empty:?}"
    );
    let read = a.oplog().read(&w, 1).await.unwrap();
    assert_eq!(read.entries.len(), 21);
    assert_eq!(read.next_index, 22);
    assert!(
        read.entries
            .iter()
            .enumerate()
            .all(|(i, (idx, _))| *idx == i as u64 + 1)
    );
}

#[tokio::test]
async fn a_lease_that_is_not_renewed_is_taken_over_and_the_old_holder_loses_it() {
    let server = NatsServer::start();
    let nats = connect(&server.options()).await;
    let opts = LeaseOptions {
        ttl_ms: 600,
        renew_every_ms: 150,
    };
    let old = nats.leases(ExecutorId::new("exec-a").unwrap(), opts.clone());
    let new = nats.leases(ExecutorId::new("exec-b").unwrap(), opts.clone());

    let mut held = old.acquire(3).await.unwrap();
    assert_eq!(held.epoch, held.revision);
    let mut loss = old.watch_loss(&held).await.unwrap();
    // Renewals keep it: the other executor is refused while they continue.
    for _ in 0..3 {
        old.renew(&mut held).await.unwrap();
        match new.acquire(3).await {
            Err(LeaseError::HeldBy { owner, expires_at }) => {
                assert_eq!(owner.as_str(), "exec-a");
                assert_eq!(expires_at, held.expires_at);
            }
            other => panic!("expected HeldBy, got {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(opts.renew_every_ms)).await;
    }
    assert!(!loss.is_lost(), "our own renewals are not a loss");

    // The old holder stops renewing; the new one polls until the TTL has passed.
    let stopped = Instant::now();
    let taken = wait_until(
        "the lease to be taken over",
        Duration::from_secs(10),
        || async { new.acquire(3).await.ok() },
    )
    .await;
    assert!(
        stopped.elapsed() >= Duration::from_millis(opts.ttl_ms - 200),
        "taken over too early"
    );
    assert!(
        taken.epoch > held.epoch,
        "epochs increase: {} then {}",
        held.epoch,
        taken.epoch
    );
    tokio::time::timeout(Duration::from_secs(5), &mut loss)
        .await
        .expect("the watch reports the loss");
    assert!(matches!(old.renew(&mut held).await, Err(LeaseError::Lost)));
    assert!(matches!(old.release(held).await, Err(LeaseError::Lost)));

    // Release hands it over without waiting for the TTL.
    new.release(taken).await.unwrap();
    let again = old.acquire(3).await.unwrap();
    assert_eq!(again.owner.as_str(), "exec-a");
    assert_eq!(
        old.holder(3).await.unwrap().unwrap().0.owner.as_str(),
        "exec-a"
    );
}

#[tokio::test]
async fn a_10000_entry_oplog_reads_back_complete_and_in_order() {
    let server = NatsServer::start();
    let nats = connect(&server.options()).await;
    const N: u64 = 10_000;

    // One entry per message (the worst case) and mixed batches of 1..=9.
    let single = worker("big", "single");
    let batched = worker("big", "batched");
    let noise = worker("big", "noise");
    let store = nats.oplog();
    let (mut last, mut last_b, mut next_b, mut noise_seq) = (0, 0, 1u64, 0);
    let started = Instant::now();
    for i in 1..=N {
        last = store
            .append(
                &single,
                last,
                &OplogBatch {
                    first: i,
                    entries: vec![log(i)],
                },
            )
            .await
            .unwrap();
        if i % 100 == 0 {
            noise_seq = store
                .append(
                    &noise,
                    noise_seq,
                    &OplogBatch {
                        first: i / 100,
                        entries: vec![log(0)],
                    },
                )
                .await
                .unwrap();
        }
    }
    let write_single = started.elapsed();
    while next_b <= N {
        let n = (next_b % 9 + 1).min(N - next_b + 1);
        let entries = (next_b..next_b + n).map(log).collect();
        last_b = store
            .append(
                &batched,
                last_b,
                &OplogBatch {
                    first: next_b,
                    entries,
                },
            )
            .await
            .unwrap();
        next_b += n;
    }

    let mut timings = BTreeMap::new();
    for (w, last) in [(&single, last), (&batched, last_b)] {
        for strategy in [
            ReadStrategy::Auto,
            ReadStrategy::BatchDirectGet,
            ReadStrategy::PullConsumer,
        ] {
            let t = Instant::now();
            let read = store.read_with(w, 1, strategy).await.unwrap();
            timings.insert(format!("{} via {strategy:?}", w.worker), t.elapsed());
            assert_eq!(read.entries.len() as u64, N, "{w} via {strategy:?}");
            assert_eq!(read.last_seq, last);
            assert_eq!(read.next_index, N + 1);
            for (k, (idx, entry)) in read.entries.iter().enumerate() {
                assert_eq!(*idx, k as u64 + 1);
                assert_eq!(entry, &log(*idx));
            }
        }
        // From an index inside a batch: indexes survive batching.
        let tail = store.read(w, 4321).await.unwrap();
        assert_eq!(tail.entries.len() as u64, N - 4320);
        assert_eq!(tail.entries[0], (4321, log(4321)));
        assert_eq!(tail.next_index, N + 1);
        assert!(store.read(w, N + 5).await.unwrap().entries.is_empty());
    }
    println!("appended {N} single-entry messages in {write_single:?}");
    for (what, took) in &timings {
        println!("read 10000 entries ({what}): {took:?}");
    }

    // Empty and deleted oplogs.
    let empty = store.read(&worker("big", "none"), 1).await.unwrap();
    assert_eq!(
        (empty.entries.len(), empty.last_seq, empty.next_index),
        (0, 0, 1)
    );
    store.delete(&single).await.unwrap();
    let gone = store.read(&single, 1).await.unwrap();
    assert_eq!((gone.entries.len(), gone.last_seq), (0, 0));
    assert_eq!(store.read(&noise, 1).await.unwrap().entries.len(), 100);
}

/// A history larger than the server lets a client fall behind by (64 MiB pending): every
/// strategy reads it whole on the one connection. Asked for 500 messages at once, the
/// server once queued 85 MB for the executor and closed its connection as a slow
/// consumer (its leases and workers went with it); reads are bounded by bytes now.
#[tokio::test]
async fn an_oplog_larger_than_the_servers_pending_limit_reads_back_without_a_disconnect() {
    let server = NatsServer::start();
    let nats = connect(&server.options()).await;
    let store = nats.oplog();
    let w = worker("big", "large-messages");
    const MESSAGES: u64 = 160;
    let line = "x".repeat(800 * 1024);
    let entry = |i: u64| OplogEntry::Log {
        at: i,
        stream: "stdout".into(),
        message: line.clone(),
    };
    let mut last = 0;
    for i in 1..=MESSAGES {
        let batch = OplogBatch {
            first: i,
            entries: vec![entry(i)],
        };
        last = store.append(&w, last, &batch).await.unwrap();
    }
    let connects = || {
        nats.client()
            .statistics()
            .connects
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let before = connects();
    for strategy in [
        ReadStrategy::Auto,
        ReadStrategy::BatchDirectGet,
        ReadStrategy::PullConsumer,
    ] {
        let read = store.read_with(&w, 1, strategy).await.unwrap();
        assert_eq!(read.entries.len() as u64, MESSAGES, "{strategy:?}");
        assert_eq!(read.last_seq, last, "{strategy:?}");
        assert_eq!(read.entries[42], (43, entry(43)), "{strategy:?}");
        assert_eq!(
            connects(),
            before,
            "{strategy:?}: the connection was dropped"
        );
    }
    // A duplicate waiting for an answer this oplog does not hold yet: it reads what is
    // retained as the reads above do, then follows new appends only.
    let waiting = tokio::spawn({
        let (store, w) = (store.clone(), w.clone());
        async move { store.await_answer(&w, "late").await }
    });
    let answer = OplogBatch {
        first: MESSAGES + 1,
        entries: vec![OplogEntry::InvocationCompleted {
            at: 1,
            idempotency_key: "late".into(),
            outcome: revenant_types::oplog::InvocationOutcome::Ok("42".into()),
            duration_us: 0,
        }],
    };
    store.append(&w, last, &answer).await.unwrap();
    let found = tokio::time::timeout(std::time::Duration::from_secs(60), waiting)
        .await
        .expect("the answer is found")
        .unwrap()
        .unwrap();
    assert_eq!(
        found.outcome,
        revenant_types::oplog::InvocationOutcome::Ok("42".into())
    );
    assert_eq!(
        connects(),
        before,
        "await_answer: the connection was dropped"
    );
}

#[tokio::test]
async fn the_partition_transform_stores_each_workers_invocations_on_one_predicted_shard() {
    let server = NatsServer::start();
    let nats = connect(&NatsOptions {
        shards: 8,
        ..server.options()
    })
    .await;
    let ns = nats.namespace().clone();
    let js = nats.jetstream();
    let workers: Vec<WorkerId> = (0..200)
        .map(|i| worker(&format!("c{}", i % 3), &format!("w-{i}")))
        .collect();
    for round in 0..2 {
        for w in &workers {
            js.publish(ns.invoke_subject(w), format!("{round}").into())
                .await
                .unwrap()
                .await
                .unwrap();
        }
    }

    let stream = js.get_stream(ns.invoke_stream()).await.unwrap();
    let consumer = stream
        .create_consumer(pull::OrderedConfig {
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap();
    let mut seen: BTreeMap<WorkerId, HashSet<u32>> = BTreeMap::new();
    for _ in 0..2 * workers.len() {
        let msg = tokio::time::timeout(Duration::from_secs(5), messages.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let (shard, w) = ns
            .parse_stored_invoke_subject(msg.subject.as_str())
            .unwrap_or_else(|| panic!("unexpected stored subject {}", msg.subject));
        assert_eq!(
            shard,
            nats.shard_of(&w),
            "server and shard_of disagree for {w}"
        );
        assert_eq!(msg.subject.as_str(), nats.stored_invoke_subject(&w));
        seen.entry(w).or_default().insert(shard);
    }
    assert_eq!(seen.len(), workers.len());
    assert!(
        seen.values().all(|shards| shards.len() == 1),
        "a worker's invocations moved shards"
    );
    let used: HashSet<u32> = seen.values().flatten().copied().collect();
    assert_eq!(
        used.len(),
        8,
        "200 workers should touch every one of 8 shards"
    );

    // A shard's consumer filter sees exactly that shard's workers.
    let filter = ns.invoke_shard_filter(nats.shard_of(&workers[0]));
    let info = stream.info_with_subjects(filter).await;
    assert!(info.is_ok());
}

#[tokio::test]
async fn invalid_names_are_refused_before_any_nats_call() {
    // Nothing listens on this port: an attempt to connect would be a Connect error.
    let closed = revenant_tests::nats_server::free_ports(1)[0];
    let url = format!("nats://127.0.0.1:{closed}");
    for bad in ["a.b", "a b", "a*", "a>", "", "ä"] {
        let opts = NatsOptions {
            url: url.clone(),
            namespace: bad.into(),
            ..NatsOptions::default()
        };
        match Nats::connect(&opts).await {
            Err(Error::Name(e)) => assert!(
                e.to_string().contains("[A-Za-z0-9_-]") || matches!(e, NameError::Empty { .. })
            ),
            other => panic!("namespace {bad:?}: expected a name error, got {other:?}"),
        }
        assert!(Namespace::new(bad).is_err());
        assert!(WorkerId::parse(bad, "w").is_err());
        assert!(WorkerId::parse("c", bad).is_err());
        assert!(ExecutorId::new(bad).is_err());
    }
    let zero = NatsOptions {
        url: url.clone(),
        shards: 0,
        ..NatsOptions::default()
    };
    assert!(matches!(
        Nats::connect(&zero).await,
        Err(Error::Incompatible {
            field: "shards",
            ..
        })
    ));
    let good = NatsOptions {
        url,
        ..NatsOptions::default()
    };
    assert!(matches!(
        Nats::connect(&good).await,
        Err(Error::Connect { .. })
    ));
}

/// Appends of many workers at once share atomic batches (`oplog::batch`); each keeps
/// its own fence: a stale one among them is fenced alone, every other append is
/// stored with the sequence it was answered, and each oplog reads back in order.
#[tokio::test]
async fn concurrent_appends_of_many_workers_share_batches_and_keep_their_own_fences() {
    let server = NatsServer::start();
    let nats = connect(&NatsOptions {
        batch_appends: true,
        ..server.options()
    })
    .await;
    let store = nats.oplog();
    const WORKERS: usize = 300;
    const ROUNDS: u64 = 4;
    let entry = |i: u64| OplogEntry::Deleted { at: i, before: i };
    let appends = (0..WORKERS).map(|n| {
        let store = store.clone();
        async move {
            let w = worker("batched", &format!("w-{n}"));
            let mut last = 0;
            for round in 1..=ROUNDS {
                let batch = OplogBatch {
                    first: round,
                    entries: vec![entry(round)],
                };
                // Worker 7 writes its third round with a stale fence.
                let expected = if n == 7 && round == 3 { last - 1 } else { last };
                match store.append(&w, expected, &batch).await {
                    Ok(seq) => last = seq,
                    Err(AppendError::Fenced { actual, .. }) => {
                        assert_eq!((n, round, actual), (7, 3, Some(last)));
                        return (w, last, round - 1);
                    }
                    Err(e) => panic!("{w}: {e}"),
                }
            }
            (w, last, ROUNDS)
        }
    });
    let done = futures::future::join_all(appends).await;
    let mut batched = 0;
    for (w, last, rounds) in done {
        let read = store.read(&w, 1).await.unwrap();
        assert_eq!(
            read.last_seq, last,
            "{w}: the answered sequence is the stored one"
        );
        let indexes: Vec<u64> = read.entries.iter().map(|(i, _)| *i).collect();
        assert_eq!(indexes, (1..=rounds).collect::<Vec<_>>(), "{w}");
        let stored = nats
            .jetstream()
            .get_stream(nats.namespace().oplog_stream())
            .await
            .unwrap()
            .get_last_raw_message_by_subject(&nats.namespace().oplog_subject(&w))
            .await
            .unwrap();
        if stored.headers.get("Nats-Batch-Id").is_some() {
            batched += 1;
        }
    }
    assert!(batched > 0, "no append was stored in a batch");
}
