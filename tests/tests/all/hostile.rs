//! Hostile inputs at a live executor (ARCHITECTURE.md "Ingress rules"): reply
//! subjects aimed at another worker's oplog, the shard leases, the JetStream API
//! or a wildcard; keys, reply subjects, functions and header blocks over their
//! caps; header blocks and subjects that are not UTF-8 or not headers at all
//! (published over a raw socket, past every client library), which never drop
//! the executor's main connection; a call request whose NATS reply is another
//! worker's oplog. Each one is answered where a reply
//! is possible, dead-lettered with the reason, and afterwards every other worker
//! and every shard is still healthy: the victim's journal holds only its own
//! entries and replays on a fresh executor, every shard is leased and answers.

use crate::common;

use std::collections::BTreeSet;

use bytes::Bytes;
use common::{Env, TIMEOUT, dead_letter, dead_reason, kind, message};
use futures::StreamExt;
use revenant_nats::async_nats::HeaderMap;
use revenant_nats::{Nats, headers, ingress};
use revenant_tests::revenant::{Answer, answer_of, call};
use revenant_tests::wait_until;
use revenant_types::oplog::InvocationOutcome;
use revenant_types::{ErrorKind, WorkerId};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// JetStream-publishes `h` (with `Rvn-Function: add`) and `[1]` to worker `w`.
async fn publish(nats: &Nats, w: &str, mut h: HeaderMap) {
    if h.get(headers::FUNCTION).is_none() {
        h.insert(headers::FUNCTION, "add");
    }
    nats.jetstream()
        .publish_with_headers(
            nats.namespace().invoke_subject(&common::worker(w)),
            h,
            Bytes::from_static(b"[1]"),
        )
        .await
        .expect("publish")
        .await
        .expect("stored");
}

/// Publishes with a reply inbox in `Rvn-Reply-To` and waits for the answer.
async fn publish_answered(nats: &Nats, w: &str, mut h: HeaderMap) -> Answer {
    let inbox = nats.client().new_inbox();
    let mut sub = nats.client().subscribe(inbox.clone()).await.unwrap();
    h.insert(headers::REPLY_TO, inbox.as_str());
    publish(nats, w, h).await;
    let msg = tokio::time::timeout(TIMEOUT, sub.next())
        .await
        .expect("an answer")
        .expect("inbox");
    answer_of(&msg)
}

/// Asserts the dead letter of `c.w` says `kind` and returns its message.
async fn dead(nats: &Nats, tail: &str, expected_kind: &str) -> String {
    let (k, m) = dead_reason(&dead_letter(nats, tail).await);
    assert_eq!(k, expected_kind, "dead letter on {tail}: {m}");
    m
}

/// Publishes `HPUB subject` with a raw header block over a plain socket.
async fn raw_hpub(url: &str, subject: &[u8], header_block: &[u8], body: &[u8]) {
    let addr = url.trim_start_matches("nats://");
    let stream = tokio::net::TcpStream::connect(addr).await.expect("socket");
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let mut info = String::new();
    lines.read_line(&mut info).await.expect("INFO");
    let mut out = Vec::new();
    out.extend_from_slice(b"CONNECT {\"verbose\":false,\"headers\":true,\"protocol\":1}\r\nHPUB ");
    out.extend_from_slice(subject);
    out.extend_from_slice(
        format!(
            " {} {}\r\n",
            header_block.len(),
            header_block.len() + body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(header_block);
    out.extend_from_slice(body);
    out.extend_from_slice(b"\r\nPING\r\n");
    write.write_all(&out).await.expect("write");
    let mut pong = String::new();
    while !pong.starts_with("PONG") {
        pong.clear();
        lines.read_line(&mut pong).await.expect("PONG");
        assert!(
            !pong.starts_with("-ERR"),
            "server refused the raw publish: {pong}"
        );
    }
}

/// Publishes an unreadable message to `subject` with a reply inbox in its header
/// block (after `extra`) and waits for the answer.
async fn raw_answered(nats: &Nats, url: &str, subject: &[u8], extra: &[u8]) -> Answer {
    let inbox = nats.client().new_inbox();
    let mut sub = nats.client().subscribe(inbox.clone()).await.unwrap();
    let mut block = b"NATS/1.0\r\nRvn-Function: add\r\n".to_vec();
    block.extend_from_slice(extra);
    block.extend_from_slice(format!("Rvn-Reply-To: {inbox}\r\n\r\n").as_bytes());
    raw_hpub(url, subject, &block, b"[1]").await;
    let msg = tokio::time::timeout(TIMEOUT, sub.next())
        .await
        .expect("an answer to an unreadable message")
        .expect("inbox");
    answer_of(&msg)
}

fn with(name: &str, value: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(name, value);
    h
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_inputs_are_refused_and_every_worker_and_shard_stays_healthy() {
    let mut env = Env::new(&[("counter", revenant_guests::COUNTER)]).await;
    let exec = env.executor().await;
    let nats = env.nats.clone();
    let url = env.server.url();
    let victim = common::worker("counter/victim");
    assert_eq!(
        call(&nats, "counter/victim", "add", json!([5])).await,
        Ok(json!(5))
    );
    let victim_journal = common::oplog(&nats, "counter/victim").await.len();
    // The executor's main connection (leases, appends, replies; shared with this test).
    let main_connects = || {
        nats.client()
            .statistics()
            .connects
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let connects_before = main_connects();
    let ns = nats.namespace().prefix().to_owned();

    // 1. Reply subjects that would write into someone else's stream or the server's API:
    //    nothing is published there; the refusal is stored under the key and dead-lettered.
    let aimed = [
        ("r1", nats.namespace().oplog_subject(&victim)),
        ("r2", format!("$KV.{}_SHARDS.shard.0", ns.to_uppercase())),
        (
            "r3",
            format!("$JS.API.STREAM.DELETE.{}_OPLOG", ns.to_uppercase()),
        ),
        ("r4", "$SYS.REQ.SERVER.PING".to_owned()),
        ("r5", "_INBOX.*".to_owned()),
        ("r6", "other.oplog.counter.victim".to_owned()),
    ];
    for (w, reply) in &aimed {
        let mut h = with(headers::REPLY_TO, reply);
        h.insert(headers::MSG_ID, format!("key-{w}").as_str());
        publish(&nats, &format!("counter/{w}"), h).await;
        let m = dead(&nats, &format!("counter.{w}"), "invalid-reply-to").await;
        assert!(m.contains("expected an inbox subject"), "{m}");
        let stored = wait_until("the refusal stored under its key", TIMEOUT, || async {
            nats.results()
                .get(
                    &common::worker(&format!("counter/{w}")),
                    &format!("key-{w}"),
                )
                .await
                .ok()
                .flatten()
        })
        .await;
        assert!(
            matches!(&stored.outcome, InvocationOutcome::Err(e) if e.kind == ErrorKind::InvalidReplyTo),
            "{:?}",
            stored.outcome
        );
        println!("reply-to {reply:?}: invalid-reply-to, stored under its key, dead-lettered");
    }

    // 2. Caps: an answer names the cap; an over-long key is not used as a KV key.
    let long_key = "k".repeat(5000);
    let r = publish_answered(&nats, "counter/c1", with(headers::MSG_ID, &long_key)).await;
    let e = r.expect_err("an over-long key is refused");
    assert_eq!(kind(&e), "invalid-idempotency-key", "{e}");
    assert!(
        message(&e).contains(&ingress::MAX_KEY_LEN.to_string()),
        "{e}"
    );
    dead(&nats, "counter.c1", "invalid-idempotency-key").await;
    println!("Nats-Msg-Id of 5000 bytes: invalid-idempotency-key, answered, dead-lettered");

    let r = publish_answered(
        &nats,
        "counter/c2",
        with(headers::IDEMPOTENCY_KEY, "a\u{1}b"),
    )
    .await;
    assert_eq!(kind(&r.unwrap_err()), "invalid-idempotency-key");
    dead(&nats, "counter.c2", "invalid-idempotency-key").await;
    println!("Rvn-Idempotency-Key with a control character: invalid-idempotency-key");

    publish(
        &nats,
        "counter/c3",
        with(headers::REPLY_TO, &format!("_INBOX.{}", "x".repeat(5000))),
    )
    .await;
    dead(&nats, "counter.c3", "invalid-reply-to").await;
    println!("Rvn-Reply-To of 5000 bytes: invalid-reply-to, dead-lettered");

    let r = publish_answered(
        &nats,
        "counter/c4",
        with(headers::FUNCTION, &"f".repeat(10_000)),
    )
    .await;
    let e = r.unwrap_err();
    assert_eq!(kind(&e), "invalid-header", "{e}");
    assert!(message(&e).contains("Rvn-Function"), "{e}");
    dead(&nats, "counter.c4", "invalid-header").await;
    println!("Rvn-Function of 10000 bytes: invalid-header");

    let mut h = HeaderMap::new();
    for i in 0..6 {
        h.insert(format!("X-Pad-{i}").as_str(), "p".repeat(4000).as_str());
    }
    let e = publish_answered(&nats, "counter/c5", h).await.unwrap_err();
    assert_eq!(kind(&e), "invalid-header", "{e}");
    assert!(message(&e).contains("together"), "{e}");
    dead(&nats, "counter.c5", "invalid-header").await;
    println!("24000 bytes of headers: invalid-header");

    let e = publish_answered(&nats, "counter/c6", with(headers::KIND, "detonate"))
        .await
        .unwrap_err();
    assert_eq!(kind(&e), "invalid-message", "{e}");
    dead(&nats, "counter.c6", "invalid-message").await;
    println!("Rvn-Kind: detonate: invalid-message");

    // 3. What the client library cannot parse: answered from the stored copy,
    //    dead-lettered with the raw header block, deleted so it is never delivered again.
    let invoke = |w: &str| format!("{ns}.invoke.counter.{w}").into_bytes();
    for (w, extra, what) in [
        (
            "u1",
            &b"X-Bad: \xff\xfe\r\n"[..],
            "a header value that is not UTF-8",
        ),
        (
            "u2",
            b"no colon on this line\r\n",
            "a header line without a colon",
        ),
        ("u3", b"Bad Name: v\r\n", "a header name with a space"),
    ] {
        let e = raw_answered(&nats, &url, &invoke(w), extra)
            .await
            .unwrap_err();
        assert_eq!(kind(&e), "invalid-header", "{what}: {e}");
        let dl = dead_letter(&nats, &format!("counter.{w}")).await;
        assert!(
            dl.headers.get(headers::ORIGINAL_HEADERS_BASE64).is_some(),
            "{what}"
        );
        println!("{what}: invalid-header, answered, dead-lettered, deleted");
    }
    let mut subject = format!("{ns}.invoke.counter.").into_bytes();
    subject.extend_from_slice(b"\xff\xfe");
    let e = raw_answered(&nats, &url, &subject, b"").await.unwrap_err();
    assert_eq!(kind(&e), "invalid-header", "{e}");
    assert!(message(&e).contains("subject"), "{e}");
    dead(&nats, "_invalid._invalid", "invalid-header").await;
    println!("a subject that is not UTF-8: invalid-header (subject), answered, dead-lettered");
    // Nothing unreadable is left for the shard consumers to deliver again.
    let invoke_stream = nats
        .jetstream()
        .get_stream(nats.namespace().invoke_stream())
        .await
        .unwrap();
    let mut subjects = invoke_stream
        .info_with_subjects(format!("{ns}.invoke.*.counter.>"))
        .await
        .unwrap();
    let mut left = BTreeSet::new();
    while let Some(Ok((s, _))) = subjects.next().await {
        left.insert(s);
    }
    for w in ["u1", "u2", "u3"] {
        assert!(
            !left.iter().any(|s| s.ends_with(&format!(".counter.{w}"))),
            "{w} is still in the invoke stream: {left:?}"
        );
    }

    // A call request the client cannot parse: nothing to answer or keep (core NATS).
    let call_subject = format!("{ns}.call.counter.u4").into_bytes();
    raw_hpub(
        &url,
        &call_subject,
        b"NATS/1.0\r\nX-Bad: \xff\r\n\r\n",
        b"[1]",
    )
    .await;
    // It dropped the executor's intake connection (core requests sent meanwhile are lost,
    // as core NATS is at most once): wait until the bridge answers again, each probe
    // given a second (a lost one would otherwise wait out the client's 10 s).
    wait_until("the call bridge answering again", TIMEOUT, || async {
        let probe = format!("{ns}.call.not$valid.probe");
        let request = nats.client().request(probe, "[]".into());
        tokio::time::timeout(std::time::Duration::from_secs(1), request)
            .await
            .ok()?
            .ok()
    })
    .await;
    // None of them dropped the main connection: they reach the executor on its intake one.
    assert_eq!(
        main_connects(),
        connects_before,
        "the main connection reconnected"
    );
    println!("unparseable messages: the executor's main connection never reconnected");

    // 4. The call bridge: a core request whose reply subject is the victim's oplog.
    let call_subject = nats.namespace().call_subject(&common::worker("counter/b1"));
    nats.client()
        .publish_with_reply_and_headers(
            call_subject,
            nats.namespace().oplog_subject(&victim),
            with(headers::FUNCTION, "add"),
            Bytes::from_static(b"[1]"),
        )
        .await
        .unwrap();
    dead(&nats, "counter.b1", "invalid-reply-to").await;
    println!("a call whose NATS reply is another worker's oplog: invalid-reply-to, dead-lettered");

    // Health: the victim's journal holds only its own (decodable) entries and goes on.
    let journal = common::oplog(&nats, "counter/victim").await;
    assert_eq!(
        journal.len(),
        victim_journal,
        "nothing was written into the victim's oplog"
    );
    assert_eq!(
        call(&nats, "counter/victim", "add", json!([1])).await,
        Ok(json!(6))
    );
    // It replays on a fresh executor (the old one is gone, so nothing is in memory).
    exec.stop().await;
    let exec = env.executor().await;
    assert_eq!(
        call(&nats, "counter/victim", "add", json!([1])).await,
        Ok(json!(7))
    );
    // Every shard is leased and answers.
    let shards = nats.options().shards;
    let mut probes: Vec<Option<WorkerId>> = vec![None; shards as usize];
    for i in 0.. {
        let w = common::worker(&format!("counter/probe-{i}"));
        let s = nats.shard_of(&w) as usize;
        probes[s].get_or_insert(w);
        if probes.iter().all(Option::is_some) {
            break;
        }
    }
    let leases = nats.leases(
        revenant_types::names::ExecutorId::new("hostile-test").unwrap(),
        Default::default(),
    );
    for (shard, w) in probes.into_iter().enumerate() {
        let w = w.unwrap();
        let held = wait_until(&format!("shard {shard} leased"), TIMEOUT, || async {
            leases.holder(shard as u32).await.ok().flatten()
        })
        .await;
        assert!(!held.0.owner.as_str().is_empty());
        let path = format!("{}/{}", w.component, w.worker);
        assert_eq!(
            call(&nats, &path, "add", json!([1])).await,
            Ok(json!(1)),
            "shard {shard}"
        );
    }
    exec.stop().await;
}
