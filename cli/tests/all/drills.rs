//! Failure drills from the CLI, against `revenant executor` child processes:
//! `revenant connect` follows a worker live (its stdout, invocations, a simulated
//! crash's recovery, the holder changing on failover); `revenant worker
//! simulate-crash` recovers a worker by replay and says how long it took;
//! `revenant executor crash <id>` kills an executor started with
//! `--allow-crash-drills` as `kill -9` would (the other takes over, the worker's
//! state intact), and is refused, saying how to allow it, by one started without.

use crate::common;

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Executor, owner_of, revenant};
use revenant_tests::revenant::{call, connect, deploy};
use revenant_tests::{NatsServer, wait_until};
use revenant_types::WorkerId;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(30);

/// `revenant connect <worker> --no-color`, its stdout lines sent to a channel.
struct Connect {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Connect {
    fn start(url: &str, worker: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_revenant"))
            .args(["--nats", url, "connect", worker, "--no-color"])
            .env("REVENANT_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn revenant connect");
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let (ready_tx, ready) = mpsc::channel();
        let stderr = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[connect] {line}");
                if line.starts_with("connected to") {
                    let _ = ready_tx.send(());
                }
            }
        });
        ready
            .recv_timeout(WAIT)
            .expect("revenant connect says it is connected");
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a line containing every one of `parts`.
    fn expect(&mut self, parts: &[&str]) {
        self.expect_all(&[parts]);
    }

    /// Waits until, for each of `lines`, a line containing all its parts came (in any order).
    fn expect_all(&mut self, lines: &[&[&str]]) {
        let deadline = Instant::now() + WAIT;
        let mut missing: Vec<&[&str]> = lines.to_vec();
        while !missing.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    missing.retain(|parts| !parts.iter().all(|p| line.contains(p)));
                }
                Err(_) => panic!(
                    "no line with {missing:?} within {WAIT:?}; saw:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }
}

impl Drop for Connect {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Calls until an executor answers (a failover in between is retried).
async fn call_ok(
    nats: &revenant_nats::Nats,
    w: &str,
    function: &str,
    args: serde_json::Value,
) -> serde_json::Value {
    wait_until(&format!("{w}.{function} answered"), WAIT, || async {
        call(nats, w, function, args.clone()).await.ok()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connect_follows_a_worker_through_a_simulated_crash_and_an_executor_crash_drill() {
    let _alone = common::alone().await;
    let server = NatsServer::start();
    let url = server.url();
    let nats = connect(&server.options()).await;
    deploy(&nats, "counter", revenant_guests::COUNTER).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let w = "counter/drill-1";
    let id = WorkerId::parse_path(w).unwrap();

    let mut a = Executor::spawn(&url, &[], "drill-a", dir.path(), &["--allow-crash-drills"]);
    wait_until("drill-a holds the worker's shard", WAIT, || async {
        (owner_of(&nats, &id).await.as_deref() == Some("drill-a")).then_some(())
    })
    .await;
    let mut follow = Connect::start(&url, w);

    // Live output and invocations, one line each.
    let total = call_ok(&nats, w, "add-random", json!([])).await;
    let total = total.as_u64().expect("a total");
    follow.expect(&["started", "add-random"]);
    follow.expect(&["stdout", &format!("total: {total}")]);
    follow.expect(&["finished", "add-random", "ok"]);

    // A simulated crash from the CLI: recovered by replay, state intact.
    let out = revenant(&url, &["worker", "simulate-crash", w]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("recovered by replay in"), "{said}");
    follow.expect(&["recovered", "by replay in"]);
    assert_eq!(call_ok(&nats, w, "get", json!([])).await, json!(total));

    // An executor started without the option refuses drills, and says how to allow them.
    let mut b = Executor::spawn(&url, &[], "drill-b", dir.path(), &[]);
    // Asked again while drill-b is still starting (not yet listening: "no executor
    // drill-b answered"); a refusal changes nothing, so asking again is harmless.
    let deadline = Instant::now() + WAIT;
    let why = loop {
        let refused = revenant(
            &url,
            &["executor", "crash", "drill-b", "--timeout-ms", "500"],
        );
        assert!(!refused.status.success());
        let why = String::from_utf8_lossy(&refused.stderr).into_owned();
        if !why.contains("no executor drill-b answered") || Instant::now() >= deadline {
            break why;
        }
    };
    assert!(why.contains("--allow-crash-drills"), "{why}");
    let nobody = revenant(
        &url,
        &["executor", "crash", "drill-nobody", "--timeout-ms", "500"],
    );
    assert!(!nobody.status.success());
    let why = String::from_utf8_lossy(&nobody.stderr);
    assert!(why.contains("no executor drill-nobody answered"), "{why}");
    assert!(b.wait_exit(Duration::ZERO).is_none(), "drill-b still runs");

    // The drill kills drill-a as kill -9 would; drill-b takes over, the state intact.
    let holder = owner_of(&nats, &id).await.expect("a holder");
    let out = revenant(&url, &["executor", "crash", "drill-a"]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("executor drill-a is crashing"));
    let status = a.wait_exit(WAIT).expect("drill-a ended");
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    assert!(a.logs().contains("crash drill"), "{}", a.logs());
    assert_eq!(
        call_ok(&nats, w, "add", json!([1])).await,
        json!(total.wrapping_add(1))
    );
    assert_eq!(owner_of(&nats, &id).await.as_deref(), Some("drill-b"));
    // connect shows the invocation on drill-b and, if the worker changed hands, that
    // (its holder is looked up every second: the two come in either order).
    let finished: &[&str] = &["finished", "{add}", "ok"];
    if holder == "drill-a" {
        follow.expect_all(&[&["worker now held by executor drill-b"], finished]);
    } else {
        follow.expect(finished);
    }
    b.kill();
}
