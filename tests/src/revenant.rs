//! Helpers for tests that run Revenant itself against a real nats-server: an
//! in-process executor that can be stopped and started again, component
//! deployment of the example guests, and invoking workers exactly as an
//! outside NATS client would (the nats crate's invoke-and-await: JetStream
//! publish with a reply inbox, or a core request on the `call` subject), with
//! replies read by the nats crate's one parser.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use revenant_executor::ExecutorOptions;
use revenant_nats::invocations::InvocationRequest;
use revenant_nats::reply::parse_reply;
use revenant_nats::{Nats, headers};
use revenant_types::config::NatsOptions;
use revenant_types::oplog::InvocationOutcome;
use revenant_types::records::ComponentRecord;
use revenant_types::{ComponentName, WorkerId};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Connects to `opts` and provisions every stream and bucket.
pub async fn connect(opts: &NatsOptions) -> Nats {
    let nats = Nats::connect(opts)
        .await
        .expect("connect to the test nats-server");
    nats.provision()
        .await
        .expect("provision streams and buckets");
    nats
}

/// Uploads a guest (`path` from `revenant_guests`) under `name`.
pub async fn deploy(nats: &Nats, name: &str, path: &str) -> ComponentRecord {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("reading guest {path}: {e}"));
    nats.components()
        .upload(&ComponentName::new(name).expect("component name"), bytes)
        .await
        .unwrap_or_else(|e| panic!("uploading {name}: {e}"))
}

/// Executor options for tests: short leases and a private cache and work dir.
pub fn test_options(dir: &std::path::Path) -> ExecutorOptions {
    let mut o = ExecutorOptions {
        cache_dir: dir.join("cache"),
        work_dir: Some(dir.join("work")),
        ..ExecutorOptions::default()
    };
    o.lease.ttl_ms = 1_500;
    o.lease.renew_every_ms = 250;
    o.retry.initial_delay_ms = 10;
    o
}

/// An executor running in this process; `stop` shuts it down gracefully.
pub struct TestExecutor {
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<()>>,
    _dir: Option<tempfile::TempDir>,
}

impl TestExecutor {
    /// Starts an executor with [`test_options`] in a fresh temp dir.
    pub fn start(nats: &Nats) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let opts = test_options(dir.path());
        let mut e = Self::start_with(nats, opts);
        e._dir = Some(dir);
        e
    }

    /// Starts an executor with the given options.
    pub fn start_with(nats: &Nats, opts: ExecutorOptions) -> Self {
        let (tx, rx) = oneshot::channel::<()>();
        let nats = nats.clone();
        let handle = tokio::spawn(async move {
            revenant_executor::run(opts, nats, async {
                let _ = rx.await;
            })
            .await
            .expect("executor run");
        });
        Self {
            stop: Some(tx),
            handle: Some(handle),
            _dir: None,
        }
    }

    /// Stops gracefully and waits until its shards are released.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.expect("executor task");
        }
    }
}

impl Drop for TestExecutor {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.abort();
        }
    }
}

/// The answer to an invocation: `Ok(json)` for `Rvn-Status: ok`, `Err(json)` otherwise
/// (the error object `{"kind", "message"}`).
pub type Answer = Result<serde_json::Value, serde_json::Value>;

/// An outcome as an [`Answer`].
pub fn answer(outcome: InvocationOutcome) -> Answer {
    match outcome {
        InvocationOutcome::Ok(json) => Ok(serde_json::from_str(&json)
            .unwrap_or_else(|e| panic!("result is not JSON ({e}): {json:?}"))),
        InvocationOutcome::Err(e) => Err(serde_json::to_value(&e).expect("error object")),
    }
}

/// A reply message as an [`Answer`] (parsed by the nats crate's one reply parser).
pub fn answer_of(msg: &revenant_nats::async_nats::Message) -> Answer {
    answer(parse_reply(msg.headers.as_ref(), &msg.payload))
}

/// Publishes an invocation to `<ns>.invoke.<c>.<w>` with a reply inbox and waits for the answer.
pub async fn invoke(
    nats: &Nats,
    worker: &str,
    function: &str,
    args: serde_json::Value,
    key: Option<&str>,
) -> Answer {
    invoke_raw(
        nats,
        worker,
        function,
        Some(headers::CONTENT_TYPE_JSON),
        args.to_string().into(),
        key,
    )
    .await
}

/// Like [`invoke`] with a raw body and content type.
pub async fn invoke_raw(
    nats: &Nats,
    worker: &str,
    function: &str,
    content_type: Option<&str>,
    body: Bytes,
    key: Option<&str>,
) -> Answer {
    let id = WorkerId::parse_path(worker).expect("worker path");
    let replies = nats.replies().await.expect("subscribe reply inbox");
    let mut inbox = replies.inbox();
    let req = InvocationRequest {
        function: function.to_owned(),
        idempotency_key: key.map(str::to_owned),
        reply_to: None,
        content_type: content_type.map(str::to_owned),
        body,
        trace: Default::default(),
        caller: None,
        subscription: None,
        index: false,
    };
    let awaited = nats
        .invoke_and_await(&id, req, &mut inbox, Duration::from_secs(30))
        .await
        .expect("publish invocation and await its answer");
    let outcome = awaited.outcome.unwrap_or_else(|| {
        panic!(
            "no answer within 30 s to {worker} {function}{}",
            if awaited.duplicate {
                " (a duplicate: waited for the original's result)"
            } else {
                ""
            }
        )
    });
    answer(outcome)
}

/// A core NATS request on `<ns>.call.<c>.<w>` (what `nats request` does).
pub async fn call(nats: &Nats, worker: &str, function: &str, args: serde_json::Value) -> Answer {
    let id = WorkerId::parse_path(worker).expect("worker path");
    let mut h = revenant_nats::async_nats::HeaderMap::new();
    h.insert(headers::FUNCTION, function);
    let msg = tokio::time::timeout(
        Duration::from_secs(30),
        nats.client().request_with_headers(
            nats.namespace().call_subject(&id),
            h,
            args.to_string().into(),
        ),
    )
    .await
    .unwrap_or_else(|_| panic!("no answer within 30 s to call {worker} {function}"))
    .expect("call request");
    answer_of(&msg)
}

/// The workspace root (for finding `.tools/` and built binaries).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// Another reader of durable pull consumer `consumer` of `stream`: once its owner's pull
/// waits, one pull for one message is registered behind it, so it takes one of the next
/// deliveries and never acknowledges it — to the owner, a delivery lost on the way (as
/// with a connection that dropped with it in flight). Await the pull's first message.
pub async fn other_reader(
    stream: &revenant_nats::async_nats::jetstream::stream::Stream,
    consumer: &str,
) -> revenant_nats::async_nats::jetstream::consumer::pull::Batch {
    let waiting = |n: usize| {
        crate::wait_until(
            "pull requests waiting on the consumer",
            Duration::from_secs(60),
            move || async move {
                let info = stream.clone().consumer_info(consumer).await.ok()?;
                (info.num_waiting >= n).then_some(())
            },
        )
    };
    waiting(1).await;
    let pull: revenant_nats::async_nats::jetstream::consumer::PullConsumer =
        stream.get_consumer(consumer).await.expect("the consumer");
    let batch = pull
        .fetch()
        .max_messages(1)
        .expires(Duration::from_secs(10))
        .messages()
        .await
        .expect("pull one message");
    waiting(2).await;
    batch
}
