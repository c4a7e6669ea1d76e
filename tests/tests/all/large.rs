//! Nothing loops on "too large" (issue 11, scenario 1): a journal batch over the
//! server's max payload is stored in `RVN_BLOBS` by reference (the fenced oplog
//! message carries only its name) and replays from there; a result over
//! `max-result-bytes` is a deterministic `result-too-large` error, journaled and
//! answered, never retried.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Env, kind, oplog};
use revenant_tests::revenant::invoke;
use revenant_types::oplog::{HostValue, OplogEntry};
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

/// Serves a `size`-byte body on every request, counting requests.
async fn big_body_server(size: usize) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/big", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                if !common::read_request_head(&mut sock).await {
                    return;
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n"
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(&vec![b'x'; size]).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    (url, hits)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_two_megabyte_http_response_is_journaled_by_reference_and_replays_without_refetching() {
    let mut env = Env::new(&[("http", revenant_guests::TEST_HTTP)]).await;
    let exec = env.executor().await;
    let nats = env.nats.clone();
    let (url, hits) = big_body_server(2 << 20).await;
    let w = "http/big";
    assert_eq!(
        invoke(&nats, w, "get-size", json!([url]), Some("big-1")).await,
        Ok(json!({"ok": [200, 2 << 20]}))
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // The response is in the oplog whole (read back through its reference).
    let entries = oplog(&nats, w).await;
    let body = entries.iter().find_map(|(_, e)| match e {
        OplogEntry::EndRemoteWrite {
            response: HostValue::HttpResponse(r),
            ..
        } => Some(r.body.len()),
        _ => None,
    });
    assert_eq!(body, Some(2 << 20));
    // Another executor replays it from the journal: the request is not sent again.
    exec.stop().await;
    let _next = env.executor().await;
    assert_eq!(
        invoke(&nats, w, "get-size", json!([url]), Some("big-1")).await,
        Ok(json!({"ok": [200, 2 << 20]}))
    );
    assert_eq!(
        invoke(
            &nats,
            w,
            "get-size",
            json!(["http://127.0.0.1:9/none"]),
            None
        )
        .await
        .map(|v| v.get("err").is_some()),
        Ok(true)
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1, "replay fetched it again");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_result_over_the_limit_is_answered_result_too_large_once_and_the_worker_goes_on() {
    let mut env = Env::new(&[("faults", revenant_guests::TEST_FAULTS)]).await;
    let _exec = env.executor_with(|o| o.max_result_bytes = 256 << 10).await;
    let nats = env.nats.clone();
    let w = "faults/blob";
    // 300 KB of list<u8> is ~1 MB of JSON: over the 256 KiB limit.
    let answer = invoke(&nats, w, "blob", json!([300_000]), Some("blob-1")).await;
    let err = answer.expect_err("an error");
    assert_eq!(kind(&err), "result-too-large", "{err}");
    // Journaled once and answered again from the journal; no retry, the worker goes on.
    let again = invoke(&nats, w, "blob", json!([300_000]), Some("blob-1")).await;
    assert_eq!(again.expect_err("the same error"), err);
    let errors = oplog(&nats, w)
        .await
        .iter()
        .filter(|(_, e)| matches!(e, OplogEntry::Error { .. }))
        .count();
    assert_eq!(errors, 0, "not a trap: nothing to retry");
    assert_eq!(
        invoke(&nats, w, "blob", json!([3]), None).await,
        Ok(json!([0, 1, 2]))
    );
    assert_eq!(
        invoke(&nats, w, "echo", json!(["still here"]), None).await,
        Ok(json!("still here"))
    );
}

/// Invocations near the server's max payload, many at once over every shard: all are
/// answered, and the server never has to cut the executor off as a slow consumer
/// (more than 64 MiB waiting for its connection), which would drop its leases.
#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_large_invocations_is_answered_without_a_slow_consumer() {
    let mut env = Env::new(&[("json-sum", revenant_guests::JSON_SUM)]).await;
    let _exec = env.executor().await;
    let nats = env.nats.clone();
    // A JSON array of 300,000 ones: ~600 KB of argument.
    let ones = format!("[{}1]", "1,".repeat(299_999));
    let calls = (0..240).map(|i| {
        let (nats, ones) = (nats.clone(), ones.clone());
        tokio::spawn(async move {
            let w = format!("json-sum/big-{}", i % 60);
            invoke(&nats, &w, "sum", json!([ones]), Some(&format!("big-{i}"))).await
        })
    });
    for answer in futures::future::join_all(calls).await {
        assert_eq!(answer.unwrap(), Ok(json!({ "ok": 300_000 })));
    }
    let log = env.server.log();
    assert!(
        !log.contains("Slow Consumer"),
        "the server cut a client off:\n{}",
        log.lines()
            .filter(|l| l.contains("Slow Consumer"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
