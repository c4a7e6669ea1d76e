//! Shared set-up for the executor integration tests: a real nats-server, a
//! provisioned connection, deployed guests and a running in-process executor,
//! plus readers for what the executor leaves behind (dead letters, oplogs,
//! worker records). Declared once in `main.rs`; test modules `use crate::common`.

#![allow(dead_code)] // each test module uses a different subset

use std::time::{Duration, Instant};

use revenant_executor::ExecutorOptions;
use revenant_nats::async_nats::jetstream::message::StreamMessage;
use revenant_nats::invocations::InvocationRequest;
use revenant_nats::reply::parse_reply;
use revenant_nats::{ControlError, Nats, headers};
use revenant_tests::revenant::{Answer, TestExecutor, answer, connect, deploy, test_options};
use revenant_tests::{NatsServer, wait_until};
use revenant_types::config::NatsOptions;
use revenant_types::oplog::{InvocationOutcome, OplogEntry};
use revenant_types::records::{ControlAction, WorkerRecord, WorkerStatus};
use revenant_types::{OplogIndex, WorkerId};

/// Generous: two cores shared with other builds.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// A server, a provisioned connection and the executor(s) a test runs.
pub struct Env {
    pub server: NatsServer,
    pub nats: Nats,
    /// Kept alive for executors started with [`Env::executor_with`].
    pub dirs: Vec<tempfile::TempDir>,
}

impl Env {
    /// Starts a server, provisions it (8 shards) and deploys `guests` (`(name, path)`).
    pub async fn new(guests: &[(&str, &str)]) -> Self {
        Self::with_options(guests, |_| {}).await
    }

    /// Like [`Env::new`] with changed [`NatsOptions`].
    pub async fn with_options(
        guests: &[(&str, &str)],
        change: impl FnOnce(&mut NatsOptions),
    ) -> Self {
        let server = NatsServer::start();
        let mut opts = server.options();
        opts.shards = 8;
        change(&mut opts);
        let nats = connect(&opts).await;
        for (name, path) in guests {
            deploy(&nats, name, path).await;
        }
        Self {
            server,
            nats,
            dirs: Vec::new(),
        }
    }

    /// Starts an executor with the test defaults and waits until it answers calls.
    pub async fn executor(&mut self) -> TestExecutor {
        self.executor_with(|_| {}).await
    }

    /// Starts an executor with changed options and waits until it answers calls.
    pub async fn executor_with(
        &mut self,
        change: impl FnOnce(&mut ExecutorOptions),
    ) -> TestExecutor {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut opts = test_options(dir.path());
        change(&mut opts);
        self.dirs.push(dir);
        let exec = TestExecutor::start_with(&self.nats, opts);
        ready(&self.nats).await;
        exec
    }
}

/// Waits until some executor's call bridge answers: a request on a `call`
/// subject with an invalid component name is answered `invalid-name` without
/// any side effect.
pub async fn ready(nats: &Nats) {
    wait_until("an executor answering rvn.call", TIMEOUT, || async {
        let subject = format!("{}.call.not$valid.probe", nats.namespace().prefix());
        let reply = nats.client().request(subject, "[]".into()).await.ok()?;
        let outcome = parse_reply(reply.headers.as_ref(), &reply.payload);
        matches!(outcome, InvocationOutcome::Err(_)).then_some(())
    })
    .await;
}

pub fn worker(path: &str) -> WorkerId {
    WorkerId::parse_path(path).expect("worker path")
}

/// The whole oplog of a worker.
pub async fn oplog(nats: &Nats, w: &str) -> Vec<(OplogIndex, OplogEntry)> {
    nats.oplog()
        .read(&worker(w), 1)
        .await
        .expect("read oplog")
        .entries
}

/// The host calls (function, response) journaled for `w`, in order.
pub async fn host_calls(nats: &Nats, w: &str) -> Vec<(String, String)> {
    oplog(nats, w)
        .await
        .into_iter()
        .filter_map(|(_, e)| match e {
            OplogEntry::HostCall {
                function, response, ..
            } => Some((function, format!("{response:?}"))),
            OplogEntry::EndRemoteWrite { begin, response } => {
                Some((format!("end-remote-write@{begin}"), format!("{response:?}")))
            }
            _ => None,
        })
        .collect()
}

/// How many `InvocationStarted` entries the oplog of `w` holds.
pub async fn started_count(nats: &Nats, w: &str) -> usize {
    oplog(nats, w)
        .await
        .iter()
        .filter(|(_, e)| matches!(e, OplogEntry::InvocationStarted { .. }))
        .count()
}

/// The worker's record in `RVN_WORKERS`.
pub async fn record(nats: &Nats, w: &str) -> Option<WorkerRecord> {
    nats.workers()
        .get(&worker(w))
        .await
        .expect("read worker record")
}

/// The last dead letter on `<ns>.dead.<subject_tail>` (`c.w` or `_invalid._invalid`), waiting for it.
pub async fn dead_letter(nats: &Nats, subject_tail: &str) -> StreamMessage {
    let ns = nats.namespace().clone();
    let stream = nats
        .jetstream()
        .get_stream(ns.dead_stream())
        .await
        .expect("dead stream");
    let subject = format!("{}.dead.{subject_tail}", ns.prefix());
    wait_until(&format!("a dead letter on {subject}"), TIMEOUT, || async {
        stream.get_last_raw_message_by_subject(&subject).await.ok()
    })
    .await
}

/// `(Rvn-Error-Kind, Rvn-Error-Message)` of a dead letter.
pub fn dead_reason(m: &StreamMessage) -> (String, String) {
    let get = |n: &str| {
        m.headers
            .get(n)
            .map(|v| v.as_str().to_owned())
            .unwrap_or_default()
    };
    (get(headers::ERROR_KIND), get(headers::ERROR_MESSAGE))
}

/// Messages stored in `RVN_DEAD`.
pub async fn dead_count(nats: &Nats) -> u64 {
    let mut stream = nats
        .jetstream()
        .get_stream(nats.namespace().dead_stream())
        .await
        .expect("dead stream");
    stream
        .info()
        .await
        .expect("dead stream info")
        .state
        .messages
}

/// The `kind` of a JSON error object.
pub fn kind(e: &serde_json::Value) -> &str {
    e["kind"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error object: {e}"))
}

/// The `message` of a JSON error object.
pub fn message(e: &serde_json::Value) -> &str {
    e["message"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error object: {e}"))
}

/// An invocation published the way a client that honours the contract must
/// (the nats crate's invoke-and-await): JetStream publish with `Nats-Msg-Id`
/// and a reply inbox; when JetStream reports the publish as a duplicate (it
/// stored nothing, so nobody will ever answer that inbox), the result is
/// picked up from `RVN_RESULTS` instead. Returns whether the publish was a
/// duplicate, and the answer.
pub async fn invoke_once(
    nats: &Nats,
    w: &str,
    function: &str,
    args: serde_json::Value,
    key: &str,
) -> (bool, Answer) {
    let replies = nats.replies().await.expect("subscribe reply inbox");
    let mut inbox = replies.inbox();
    let req = InvocationRequest {
        function: function.to_owned(),
        idempotency_key: Some(key.to_owned()),
        body: args.to_string().into(),
        ..Default::default()
    };
    let awaited = nats
        .invoke_and_await(&worker(w), req, &mut inbox, TIMEOUT)
        .await
        .expect("publish and await");
    let outcome = awaited.outcome.unwrap_or_else(|| {
        panic!(
            "no answer to {key} within {TIMEOUT:?} (duplicate: {})",
            awaited.duplicate
        )
    });
    (awaited.duplicate, answer(outcome))
}

/// Runs `tests/python/<script>` with `args` under the `.tools/venv` Python (nats-py) and
/// returns what it printed, one JSON value per line; panics with its output when it fails.
pub async fn python_lines(script: &str, args: &[&str]) -> Vec<serde_json::Value> {
    let root = revenant_tests::revenant::workspace_root();
    let python = root.join(".tools/venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing; run scripts/bootstrap to create the venv with nats-py",
        python.display()
    );
    let out = tokio::time::timeout(
        TIMEOUT,
        tokio::process::Command::new(&python)
            .arg(root.join("tests/python").join(script))
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("{script} finished within {TIMEOUT:?}"))
    .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{script} failed: {}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect()
}

/// Interrupts `w`, retrying while no executor holds the worker's shard yet.
pub async fn interrupt(nats: &Nats, w: &str) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match nats
            .control(&worker(w), ControlAction::Interrupt, Duration::from_secs(5))
            .await
        {
            Err(ControlError::NoExecutor { .. }) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => {
                assert_eq!(other.expect("interrupt").status, WorkerStatus::Interrupted);
                return;
            }
        }
    }
}

pub use revenant_tests::http_server::read_request_head;

pub use revenant_tests::metrics::{free_local_addr, metric};
