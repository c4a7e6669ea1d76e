//! Traces (issue 16, ARCHITECTURE.md "Tracing"), with `revenant router` and
//! `revenant executor` child processes exporting over OTLP (gRPC and HTTP/protobuf) to
//! the harness's in-process receiver ([`revenant_tests::otlp`]), running the order workflow
//! (`order` → `payment` → `warehouse` → `shipping`, awaited typed RPC calls):
//!
//! - one HTTP request with a `traceparent` makes one connected trace: the router's
//!   server span → its invoke span → the order's invocation span → an RPC span per
//!   call → each callee's invocation span;
//! - after kill -9 of the caller's executor mid-call and the replay on another, no span
//!   id appears twice, the order's invocation span exists exactly once, with the id
//!   derived from (worker, key), and the recovery is a `replay` span under it;
//! - an outgoing HTTP request (the `test-http` guest) carries the `traceparent` of its
//!   `http GET` span, a child of the invocation's;
//! - a schedule made over HTTP starts a new trace linked to the request, and its
//!   firing's invocation continues it (the holder's `traceparent` reaches the firing);
//! - a message a subscription forwards starts a new trace linked to the one it was
//!   published in; so do a guest's fire-and-forget call and scheduled call (linked to
//!   the calling invocation).

use crate::common;

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Executor, invoke_retrying, owner_of, wait_all_held_by};
use revenant_nats::Nats;
use revenant_tests::otlp::{OtlpReceiver, ReceivedSpan};
use revenant_tests::revenant::{connect, deploy, invoke};
use revenant_tests::{NatsServer, wait_until};
use revenant_types::WorkerId;
use revenant_types::oplog::TraceContext;
use revenant_types::trace::invocation_span;
use serde_json::{Value, json};

const STEPS: [&str; 3] = ["payment", "warehouse", "shipping"];
/// Span kinds as OTLP numbers them.
const SERVER: i32 = 2;
const CLIENT: i32 = 3;
const CONSUMER: i32 = 5;

fn id(c: &str, w: &str) -> WorkerId {
    WorkerId::parse(c, w).unwrap()
}

/// The environment that turns export on (over gRPC or HTTP/protobuf), batches
/// flushed within 100 ms.
fn otel_env(receiver: &OtlpReceiver, grpc: bool) -> Vec<(&'static str, String)> {
    let (endpoint, protocol) = match grpc {
        true => (receiver.grpc_endpoint(), "grpc"),
        false => (receiver.endpoint(), "http/protobuf"),
    };
    vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.to_owned()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_owned()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
    ]
}

fn spawn_executor(
    url: &str,
    name: &str,
    dir: &std::path::Path,
    env: &[(&str, String)],
) -> Executor {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Executor::spawn_env(url, &[], name, dir, &[], &env)
}

/// A `revenant router` child process, killed on drop.
struct Router {
    child: Child,
    base: String,
}

impl Router {
    async fn spawn(url: &str, env: &[(&str, String)]) -> Self {
        let listen = common::free_local_addr();
        let child = Command::new(env!("CARGO_BIN_EXE_revenant"))
            .args(["--nats", url, "router", "--listen", &listen])
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("REVENANT_LOG", "warn")
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn revenant router");
        let base = format!("http://{listen}");
        let health = format!("{base}/healthz");
        wait_until("the router to answer", Duration::from_secs(30), || async {
            reqwest::get(&health)
                .await
                .ok()?
                .status()
                .is_success()
                .then_some(())
        })
        .await;
        Self { child, base }
    }
}

impl Router {
    /// POSTs `body` (JSON) to `path` with `traceparent` and `headers`; it must succeed.
    async fn post(&self, path: &str, traceparent: &str, headers: &[(&str, &str)], body: Value) {
        let mut request = reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .header("traceparent", traceparent)
            .json(&body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("the request");
        assert!(
            response.status().is_success(),
            "POST {path}: {:?}",
            response.text().await
        );
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn deploy_workflow(nats: &Nats) {
    deploy(nats, "order", revenant_guests::ORDER).await;
    for (step, wasm) in STEPS.iter().zip([
        revenant_guests::PAYMENT,
        revenant_guests::WAREHOUSE,
        revenant_guests::SHIPPING,
    ]) {
        deploy(nats, step, wasm).await;
    }
}

/// The executor's invocation span of `worker`, if received.
fn invocation<'a>(spans: &'a [ReceivedSpan], worker: &str) -> Vec<&'a ReceivedSpan> {
    spans
        .iter()
        .filter(|s| {
            s.service == "revenant-executor"
                && s.name.starts_with("invoke ")
                && s.attr("rvn.worker") == Some(worker)
        })
        .collect()
}

/// Waits until the invocation spans of order `w` and of its three callees and
/// `router_spans` spans of the router have arrived.
async fn wait_for_invocations(
    receiver: &OtlpReceiver,
    w: &str,
    router_spans: usize,
) -> Vec<ReceivedSpan> {
    wait_until(
        &format!("the invocation spans of order {w} and its callees, {router_spans} of the router"),
        Duration::from_secs(60),
        || async {
            let spans = receiver.spans();
            let all = std::iter::once("order")
                .chain(STEPS)
                .all(|c| !invocation(&spans, &format!("{c}/{w}")).is_empty());
            let routed = spans
                .iter()
                .filter(|s| s.service == "revenant-router" && !s.name.contains("/healthz"))
                .count();
            (all && routed >= router_spans).then_some(spans)
        },
    )
    .await
}

/// The spans received, one line each (shown with `--nocapture`).
fn print_spans(spans: &[ReceivedSpan]) {
    for s in spans {
        eprintln!(
            "[span] {:<18} {:<40} trace {} span {} parent {}",
            s.service, s.name, s.trace_id, s.span_id, s.parent
        );
    }
}

fn assert_no_span_twice(spans: &[ReceivedSpan]) {
    let mut seen = std::collections::HashSet::new();
    for s in spans {
        assert!(
            seen.insert(&s.span_id),
            "span id {} twice: {s:#?}",
            s.span_id
        );
    }
}

fn by_id(spans: &[ReceivedSpan]) -> HashMap<&str, &ReceivedSpan> {
    spans.iter().map(|s| (s.span_id.as_str(), s)).collect()
}

/// Asserts the callees' half of the trace: an RPC span per call, a child of the order's
/// invocation span, and each callee's invocation span a child of its RPC span.
fn assert_calls_under(spans: &[ReceivedSpan], order: &ReceivedSpan, w: &str) {
    let ids = by_id(spans);
    for step in STEPS {
        let callee = invocation(spans, &format!("{step}/{w}"));
        assert_eq!(
            callee.len(),
            1,
            "{step}/{w}: one invocation span: {callee:#?}"
        );
        let callee = callee[0];
        assert_eq!(callee.kind, CONSUMER);
        assert_eq!(callee.trace_id, order.trace_id, "{step}: same trace");
        let rpc = ids
            .get(callee.parent.as_str())
            .unwrap_or_else(|| panic!("{step}/{w}: its parent {} was not received", callee.parent));
        assert!(
            rpc.name.starts_with(&format!("rpc await {step}.")),
            "{step}/{w}'s parent is its call: {rpc:#?}"
        );
        assert_eq!(rpc.kind, CLIENT);
        assert_eq!(
            rpc.parent, order.span_id,
            "the call to {step} is a child of the order's invocation"
        );
    }
}

/// A NATS server with the order workflow deployed, an OTLP receiver and the
/// environment that points children at it.
struct Setup {
    server: NatsServer,
    nats: Nats,
    receiver: OtlpReceiver,
    env: Vec<(&'static str, String)>,
    dir: tempfile::TempDir,
}

impl Setup {
    async fn start() -> Self {
        let server = NatsServer::start();
        let nats = connect(&server.options()).await;
        deploy_workflow(&nats).await;
        let receiver = OtlpReceiver::start().await;
        let env = otel_env(&receiver, false);
        let dir = tempfile::tempdir().expect("temp dir");
        Self {
            server,
            nats,
            receiver,
            env,
            dir,
        }
    }

    fn executor(&self, name: &str) -> Executor {
        spawn_executor(&self.server.url(), name, self.dir.path(), &self.env)
    }

    /// Waits until the invocation span of `worker` has arrived: every span so far (printed).
    async fn spans_once_invoked(&self, worker: &str) -> Vec<ReceivedSpan> {
        let what = format!("the invocation span of {worker}");
        let spans = wait_until(&what, Duration::from_secs(60), || async {
            let spans = self.receiver.spans();
            (!invocation(&spans, worker).is_empty()).then_some(spans)
        })
        .await;
        print_spans(&spans);
        spans
    }

    /// Deploys `component`, then starts executor `name` and waits until it holds every shard.
    async fn alone_with(&self, (component, wasm): (&str, &str), name: &str) -> Executor {
        deploy(&self.nats, component, wasm).await;
        let executor = self.executor(name);
        wait_all_held_by(&self.nats, &[name], Duration::from_secs(60)).await;
        executor
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_http_request_makes_one_trace_from_the_router_through_the_executor_to_the_callees() {
    let _alone = common::alone().await;
    let Setup {
        server,
        nats,
        receiver,
        env,
        dir: _dir,
    } = Setup::start().await;
    // The executor exports over gRPC, the router over HTTP/protobuf.
    let grpc = otel_env(&receiver, true);
    let _executor = spawn_executor(&server.url(), "trace-1", _dir.path(), &grpc);
    wait_all_held_by(&nats, &["trace-1"], Duration::from_secs(60)).await;
    let router = Router::spawn(&server.url(), &env).await;

    let caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let key = "trace-order-1";
    router
        .post(
            "/v1/components/order/workers/t1/invoke/place",
            &format!("00-{caller_trace}-{caller_span}-01"),
            &[("idempotency-key", key)],
            json!([100]),
        )
        .await;

    let spans = wait_for_invocations(&receiver, "t1", 2).await;
    print_spans(&spans);
    let server_span = spans
        .iter()
        .find(|s| s.service == "revenant-router" && s.kind == SERVER && s.name.starts_with("POST "))
        .expect("the router's server span");
    assert_eq!(
        server_span.trace_id, caller_trace,
        "the caller's trace goes on"
    );
    assert_eq!(
        server_span.parent, caller_span,
        "the caller's span is the request's parent"
    );
    assert_eq!(
        server_span.name,
        "POST /v1/components/{component}/workers/{worker}/invoke/{function}"
    );
    let invoke = spans
        .iter()
        .find(|s| s.service == "revenant-router" && s.kind == CLIENT)
        .expect("the router's invoke span");
    assert_eq!(
        invoke.parent, server_span.span_id,
        "publish under the request"
    );
    let order = invocation(&spans, "order/t1");
    assert_eq!(order.len(), 1, "one invocation span: {order:#?}");
    let order = order[0];
    assert_eq!(order.trace_id, caller_trace);
    assert_eq!(
        order.parent, invoke.span_id,
        "the invocation is the router's message's child"
    );
    assert_eq!(order.attr("rvn.idempotency_key"), Some(key));
    assert_calls_under(&spans, order, "t1");
    assert_no_span_twice(&spans);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_kill_9_and_replay_elsewhere_no_span_is_emitted_twice() {
    let _alone = common::alone().await;
    let setup = Setup::start().await;
    let (nats, receiver) = (&setup.nats, &setup.receiver);
    let mut executors = vec![setup.executor("kill-1"), setup.executor("kill-2")];
    wait_all_held_by(nats, &["kill-1", "kill-2"], Duration::from_secs(60)).await;
    // An order whose caller runs on one executor and its first callee on the other.
    let mut n = 0;
    let (w, caller, callee) = loop {
        n += 1;
        let w = format!("k{n}");
        let caller = owner_of(nats, &id("order", &w)).await.expect("owned");
        let callee = owner_of(nats, &id("payment", &w)).await.expect("owned");
        if caller != callee {
            break (w, caller, callee);
        }
    };
    let at = |name: &str| executors.iter().position(|e| e.id == name).expect("alive");
    let (caller_at, callee_at) = (at(&caller), at(&callee));
    // The call stays in flight while the callee's executor is stopped.
    executors[callee_at].signal(libc::SIGSTOP);
    let key = format!("place-{w}");
    let answer = {
        let (nats, w, key) = (nats.clone(), w.clone(), key.clone());
        tokio::spawn(async move {
            invoke_retrying(
                &nats,
                &id("order", &w),
                "place",
                &json!([100]),
                &key,
                Duration::from_secs(3),
                Duration::from_secs(120),
            )
            .await
        })
    };
    wait_until(
        &format!("order {w} to begin its call to payment"),
        Duration::from_secs(60),
        || async { (common::calls_begun(nats, &w).await > 0).then_some(()) },
    )
    .await;
    // The call's span has been exported (its callee's invocation span will name it as
    // its parent, whichever executor finishes the order).
    wait_until(
        "the span of the call to payment",
        Duration::from_secs(30),
        || async {
            let spans = receiver.spans();
            let call = spans.iter().any(|s| {
                s.name.starts_with("rpc await payment.")
                    && s.attr("rvn.target") == Some(format!("payment/{w}").as_str())
            });
            call.then_some(())
        },
    )
    .await;
    eprintln!("[test] killing the caller's executor {caller} mid-call");
    executors[caller_at].kill();
    executors[callee_at].signal(libc::SIGCONT);
    executors.remove(caller_at);
    executors.push(setup.executor("kill-3"));
    let (answer, _) = answer.await.expect("the caller task").expect("an answer");
    assert!(answer.is_ok(), "order {w}: {answer:?}");

    // Graceful stops flush every batched span before the receiver is read.
    for e in &mut executors {
        e.signal(libc::SIGTERM);
        assert!(
            e.wait_exit(Duration::from_secs(60)).is_some(),
            "{} stops",
            e.id
        );
    }
    let spans = wait_for_invocations(receiver, &w, 0).await;
    print_spans(&spans);
    assert_no_span_twice(&spans);
    let worker = format!("order/{w}");
    let order = invocation(&spans, &worker);
    assert_eq!(
        order.len(),
        1,
        "the order's invocation span, once: {order:#?}"
    );
    let order = order[0];
    let derived = invocation_span(&worker, &key, &TraceContext::default());
    let hex = |b: &[u8]| b.iter().map(|b| format!("{b:02x}")).collect::<String>();
    assert_eq!(
        order.span_id,
        hex(&derived.ids.span_id),
        "derived from (worker, key)"
    );
    assert_eq!(
        order.trace_id,
        hex(&derived.ids.trace_id),
        "no traceparent: a derived trace"
    );
    assert_eq!(order.parent, "", "a root");
    assert_calls_under(&spans, order, &w);
    let replays: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "replay" && s.attr("rvn.worker") == Some(worker.as_str()))
        .collect();
    assert!(
        replays
            .iter()
            .any(|r| r.parent == order.span_id && r.trace_id == order.trace_id),
        "the recovery is a replay span under the order's invocation: {replays:#?}"
    );
}

/// A local HTTP server answering `ok` to every request; returns its URL and the heads
/// of the requests it got.
async fn recording_server() -> (String, Arc<Mutex<Vec<String>>>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/traced", listener.local_addr().expect("addr"));
    let heads = Arc::new(Mutex::new(Vec::new()));
    let sink = heads.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let sink = sink.clone();
            tokio::spawn(async move {
                let mut sock = BufReader::new(sock);
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    match sock.read_line(&mut line).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) if line == "\r\n" => break,
                        Ok(_) => head.push_str(&line),
                    }
                }
                sink.lock().expect("heads").push(head);
                let reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
                let _ = sock.get_mut().write_all(reply.as_bytes()).await;
            });
        }
    });
    (url, heads)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_outgoing_http_request_carries_the_traceparent_of_its_span_under_the_invocation() {
    let _alone = common::alone().await;
    let setup = Setup::start().await;
    let test_http = ("test-http", revenant_guests::TEST_HTTP);
    let _executor = setup.alone_with(test_http, "http-1").await;
    let (url, heads) = recording_server().await;
    let answer = invoke(
        &setup.nats,
        "test-http/h1",
        "get",
        json!([url]),
        Some("get-1"),
    )
    .await;
    assert!(answer.is_ok(), "{answer:?}");

    let spans = wait_until(
        "the invocation and HTTP spans",
        Duration::from_secs(60),
        || async {
            let spans = setup.receiver.spans();
            let both = !invocation(&spans, "test-http/h1").is_empty()
                && spans.iter().any(|s| s.name == "http GET");
            both.then_some(spans)
        },
    )
    .await;
    print_spans(&spans);
    let invocation = invocation(&spans, "test-http/h1")[0];
    let http = spans
        .iter()
        .find(|s| s.name == "http GET")
        .expect("the HTTP span");
    assert_eq!(http.kind, CLIENT);
    assert_eq!(http.parent, invocation.span_id, "a child of the invocation");
    assert_eq!(http.trace_id, invocation.trace_id);
    assert_eq!(http.attr("url.full"), Some(url.as_str()));
    let heads = heads.lock().expect("heads").clone();
    assert_eq!(heads.len(), 1, "one request: {heads:?}");
    let expected = format!("traceparent: 00-{}-{}-01", http.trace_id, http.span_id);
    assert!(
        heads[0].lines().any(|l| l.eq_ignore_ascii_case(&expected)),
        "the request names its span as the parent ({expected}): {}",
        heads[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_scheduled_invocation_starts_a_new_trace_linked_to_the_request_that_scheduled_it() {
    let _alone = common::alone().await;
    let setup = Setup::start().await;
    let counter = ("counter", revenant_guests::COUNTER);
    let _executor = setup.alone_with(counter, "sched-1").await;
    let router = Router::spawn(&setup.server.url(), &setup.env).await;

    let caller_trace = "0af7651916cd43dd8448eb211c80319c";
    router
        .post(
            "/v1/components/counter/workers/s1/schedules",
            &format!("00-{caller_trace}-b7ad6b7169203331-01"),
            &[],
            json!({"function": "add", "args": [1], "in": "1s"}),
        )
        .await;

    let spans = setup.spans_once_invoked("counter/s1").await;
    let request = spans
        .iter()
        .find(|s| s.service == "revenant-router" && s.name.starts_with("POST "))
        .expect("the request's span");
    assert_eq!(request.trace_id, caller_trace);
    let schedule = spans
        .iter()
        .find(|s| s.name == "schedule counter")
        .expect("the schedule's span");
    assert_eq!(schedule.parent, "", "a schedule starts a trace of its own");
    assert_ne!(schedule.trace_id, caller_trace);
    assert_eq!(
        schedule.links,
        [(request.trace_id.clone(), request.span_id.clone())],
        "linked to the request that made it"
    );
    let fired = invocation(&spans, "counter/s1")[0];
    assert_eq!(
        fired.trace_id, schedule.trace_id,
        "the firing continues the schedule's trace"
    );
    assert_eq!(fired.parent, schedule.span_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_subscription_message_starts_a_new_trace_linked_to_the_one_it_was_published_in() {
    use revenant_nats::async_nats::HeaderMap;
    use revenant_nats::subscriptions::NewSubscription;
    let _alone = common::alone().await;
    let setup = Setup::start().await;
    let nats = &setup.nats;
    nats.ensure_stream("P", &["p.>".into()])
        .await
        .expect("stream P");
    let _executor = setup
        .alone_with(("daily", revenant_guests::DAILY), "sub-1")
        .await;
    nats.add_subscription(&NewSubscription {
        name: "p".into(),
        stream: "P".into(),
        component: "daily".into(),
        worker: "{header:Key}".into(),
        function: Some("add-session".into()),
        start: Some("all".into()),
        ..Default::default()
    })
    .await
    .expect("the subscription");
    let (cause_trace, cause_span) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let mut h = HeaderMap::new();
    h.insert("Key", "k1");
    h.insert(
        "traceparent",
        format!("00-{cause_trace}-{cause_span}-01").as_str(),
    );
    let session = json!({"user": "u", "start": 0, "end": 10, "pages": 1}).to_string();
    nats.jetstream()
        .publish_with_headers("p.s", h, session.into())
        .await
        .expect("publish")
        .await
        .expect("stored");

    let spans = setup.spans_once_invoked("daily/k1").await;
    let forwarded = spans
        .iter()
        .find(|s| s.name == "subscription p")
        .expect("the subscription's span");
    assert_eq!(forwarded.parent, "", "a message starts a trace of its own");
    assert_eq!(
        forwarded.links,
        [(cause_trace.to_owned(), cause_span.to_owned())],
        "linked to the trace it was published in"
    );
    let run = invocation(&spans, "daily/k1")[0];
    assert_eq!(run.trace_id, forwarded.trace_id);
    assert_eq!(run.parent, forwarded.span_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_send_and_a_scheduled_call_start_new_traces_linked_to_the_calling_invocation() {
    let _alone = common::alone().await;
    let setup = Setup::start().await;
    deploy(&setup.nats, "counter", revenant_guests::COUNTER).await;
    let durability = ("test-durability", revenant_guests::TEST_DURABILITY);
    let _executor = setup.alone_with(durability, "send-1").await;
    let nats = &setup.nats;
    let sent = invoke(
        nats,
        "test-durability/a",
        "send",
        json!(["counter", "c1", "add", "[2]"]),
        Some("send-1"),
    )
    .await;
    assert!(sent.is_ok(), "{sent:?}");
    let at = revenant_types::now_ms() + 1_000;
    let args = json!([at, "counter", "c2", "add", "[3]"]);
    let scheduled = invoke(
        nats,
        "test-durability/a",
        "schedule",
        args,
        Some("schedule-1"),
    )
    .await;
    assert!(scheduled.is_ok(), "{scheduled:?}");
    setup.spans_once_invoked("counter/c1").await;
    let spans = setup.spans_once_invoked("counter/c2").await;
    let callers: Vec<_> = invocation(&spans, "test-durability/a");
    assert_eq!(callers.len(), 2, "the send and the schedule: {callers:#?}");
    for (mode, callee) in [("send", "counter/c1"), ("schedule", "counter/c2")] {
        let caller = callers
            .iter()
            .find(|c| c.attr("rvn.idempotency_key") == Some(&format!("{mode}-1")[..]))
            .expect("the calling invocation");
        let call = spans
            .iter()
            .find(|s| s.name.starts_with(&format!("rpc {mode} counter.")))
            .unwrap_or_else(|| panic!("the {mode}'s span"));
        assert_eq!(call.parent, "", "a {mode} starts a trace of its own");
        assert_ne!(call.trace_id, caller.trace_id);
        assert_eq!(
            call.links,
            [(caller.trace_id.clone(), caller.span_id.clone())],
            "the {mode} is linked to the invocation that made it"
        );
        let run = invocation(&spans, callee)[0];
        assert_eq!(
            run.trace_id, call.trace_id,
            "{callee} continues the {mode}'s trace"
        );
        assert_eq!(run.parent, call.span_id);
    }
}
