//! Shared set-up for the multi-process tests: `revenant executor` child
//! processes (logs in files, signals through libc, logs printed when a test
//! panics), shard-ownership readers and the oplog audit every test ends with;
//! the keyed invocation stream is in [`load`]; [`alone`] keeps the tests from
//! overlapping. Declared once in `main.rs`; test modules `use crate::common`.

#![allow(dead_code)] // each test module uses a different subset
#![allow(unsafe_code)] // libc::kill only; see `Executor::signal`

mod load;

pub use load::*;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use revenant_nats::Nats;
use revenant_types::config::LeaseOptions;
use revenant_types::oplog::{InvocationOutcome, OplogEntry};
use revenant_types::{ExecutorId, WorkerId};

/// Held by every test for its whole run, so that no two of them overlap: each spawns
/// several executors and asserts on takeover times, which a second test's executors
/// competing for the same two cores would stretch. (They were separate test binaries
/// before, and cargo runs those one after another.) Declare it first, so that it is
/// released last, after the test's executors are killed.
pub async fn alone() -> tokio::sync::MutexGuard<'static, ()> {
    static ALONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    ALONE.lock().await
}

/// Runs the `revenant` binary against `url` with `args` (warnings only in its log).
pub fn revenant(url: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_revenant"))
        .args(["--nats", url])
        .args(args)
        .env("REVENANT_LOG", "warn")
        .output()
        .expect("run revenant")
}

/// [`revenant`], which must succeed: its stdout.
pub fn revenant_ok(url: &str, args: &[&str]) -> String {
    let out = revenant(url, args);
    assert!(
        out.status.success(),
        "revenant {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One `revenant executor` child process. Its log is printed when it is dropped during a
/// panic, or always with `RVN_TEST_LOGS=<lines>` set.
pub struct Executor {
    pub id: String,
    pub dir: PathBuf,
    child: Child,
}

impl Executor {
    /// Spawns `revenant --nats <url> <global…> executor --id <id> --cache-dir <dir>/cache <extra…>`,
    /// stdout and stderr going to `<dir>/<id>.{out,err}`. Executors of one test share the
    /// compiled-component cache (as on one machine; its writes are atomic renames).
    pub fn spawn(url: &str, global: &[&str], id: &str, dir: &Path, extra: &[&str]) -> Self {
        Self::spawn_env(url, global, id, dir, extra, &[])
    }

    /// [`Executor::spawn`] with `env` set for the child (e.g. the OTLP endpoint).
    pub fn spawn_env(
        url: &str,
        global: &[&str],
        id: &str,
        dir: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let out = std::fs::File::create(dir.join(format!("{id}.out"))).expect("stdout file");
        let err = std::fs::File::create(dir.join(format!("{id}.err"))).expect("stderr file");
        let child = Command::new(env!("CARGO_BIN_EXE_revenant"))
            .args(["--nats", url])
            .args(global)
            .args(["executor", "--id", id, "--cache-dir"])
            .arg(dir.join("cache"))
            .args(extra)
            .env(
                "REVENANT_LOG",
                std::env::var("RVN_TEST_EXECUTOR_LOG")
                    .unwrap_or_else(|_| "info,async_nats=warn,wasmtime=warn,cranelift=warn".into()),
            )
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn revenant executor");
        eprintln!("[test] spawned executor {id} (pid {})", child.id());
        Self {
            id: id.to_owned(),
            dir: dir.to_path_buf(),
            child,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends `sig` (SIGKILL, SIGSTOP, SIGCONT, SIGTERM) to the child.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) takes plain integers and touches no memory of ours; the pid is
        // our own child's, not yet reaped (we only reap in `wait_exit`/`Drop`), so it
        // cannot name an unrelated process.
        let rc = unsafe { libc::kill(self.pid(), sig) };
        assert_eq!(rc, 0, "kill({}, {sig}) failed", self.pid());
    }

    /// Waits for the process to exit; `None` if it is still running after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.signal(libc::SIGKILL);
            let _ = self.child.wait();
        }
    }

    /// stderr (the tracing log) followed by stdout.
    pub fn logs(&self) -> String {
        let read = |ext: &str| {
            std::fs::read_to_string(self.dir.join(format!("{}.{ext}", self.id))).unwrap_or_default()
        };
        format!("{}{}", read("err"), read("out"))
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() || std::env::var_os("RVN_TEST_LOGS").is_some() {
            let logs = self.logs();
            let lines: Vec<&str> = logs.lines().collect();
            let keep = std::env::var("RVN_TEST_LOGS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(80);
            let tail = &lines[lines.len().saturating_sub(keep)..];
            eprintln!(
                "---- executor {} log (last {} lines) ----\n{}",
                self.id,
                tail.len(),
                tail.join("\n")
            );
        }
    }
}

pub use revenant_tests::metrics::{free_local_addr, metric};

/// Exactly once, for a counter worker after a keyed `add(1)` stream: its `get` equals the
/// number of distinct keys its callers were answered for, and its oplog (audited) holds
/// exactly those keys as completed invocations besides `get-…` reads. A direct get may be
/// served by a stream follower a moment behind, so the oplog is re-read for up to 10 s
/// until it has caught up with the counter.
pub async fn assert_applied_once(nats: &Nats, w: &WorkerId, expected: &HashSet<String>) {
    assert_eq!(
        get(nats, w).await,
        expected.len() as u64,
        "{w}: counter = distinct keys"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let completed: HashSet<String> = loop {
        let c: Vec<String> = audit_oplog(nats, w)
            .await
            .into_iter()
            .filter(|k| !k.starts_with("get-"))
            .collect();
        if c.len() >= expected.len() || Instant::now() > deadline {
            assert_eq!(
                c.len(),
                expected.len(),
                "{w}: completed invocations (besides the final get) in the oplog"
            );
            break c.into_iter().collect();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(&completed, expected, "{w}: oplog keys = callers' keys");
}

/// Audits a worker's oplog: indexes contiguous from 1, every invocation started and
/// completed exactly once and never interleaved with another. Returns the completed keys.
pub async fn audit_oplog(nats: &Nats, worker: &WorkerId) -> Vec<String> {
    let read = nats.oplog().read(worker, 1).await.expect("read oplog");
    let mut open: Option<String> = None;
    let (mut started, mut completed) = (HashSet::new(), Vec::new());
    for (n, (index, entry)) in read.entries.iter().enumerate() {
        assert_eq!(
            *index,
            n as u64 + 1,
            "{worker}: oplog index gap or repeat at position {n}"
        );
        match entry {
            OplogEntry::InvocationStarted {
                idempotency_key, ..
            } => {
                assert!(
                    open.is_none(),
                    "{worker}: invocation {idempotency_key} started at {index} while {open:?} was open"
                );
                assert!(
                    started.insert(idempotency_key.clone()),
                    "{worker}: {idempotency_key} started twice (again at {index})"
                );
                open = Some(idempotency_key.clone());
            }
            OplogEntry::InvocationCompleted {
                idempotency_key,
                outcome,
                ..
            } => {
                assert_eq!(
                    open.as_ref(),
                    Some(idempotency_key),
                    "{worker}: completion of {idempotency_key} at {index} without its start"
                );
                assert!(
                    matches!(outcome, InvocationOutcome::Ok(_)),
                    "{worker}: {idempotency_key} failed: {outcome:?}"
                );
                completed.push(idempotency_key.clone());
                open = None;
            }
            _ => {}
        }
    }
    let distinct: HashSet<&String> = completed.iter().collect();
    assert_eq!(
        distinct.len(),
        completed.len(),
        "{worker}: duplicate completed keys in the oplog"
    );
    completed
}

/// How many calls order `w` (`order/<w>`, the order workflow) has begun: its
/// `RpcStarted` entries.
pub async fn calls_begun(nats: &Nats, w: &str) -> usize {
    let order = WorkerId::parse("order", w).expect("a worker id");
    let Ok(read) = nats.oplog().read(&order, 1).await else {
        return 0;
    };
    read.entries
        .iter()
        .filter(|(_, e)| matches!(e, OplogEntry::BeginRemoteWrite { function, .. } if function.starts_with("revenant:api/rpc.")))
        .count()
}

/// Who holds each shard's lease right now (expired leases count as nobody).
pub async fn shard_owners(nats: &Nats) -> Vec<Option<String>> {
    let leases = nats.leases(
        ExecutorId::new("test-observer").expect("id"),
        LeaseOptions::default(),
    );
    let now = revenant_nats::lease::now_ms();
    let mut out = Vec::new();
    for shard in 0..nats.options().shards {
        let holder = leases.holder(shard).await.ok().flatten();
        out.push(
            holder
                .filter(|(r, _)| r.expires_at > now)
                .map(|(r, _)| r.owner.to_string()),
        );
    }
    out
}

/// Shards held per executor id.
pub fn tally(owners: &[Option<String>]) -> BTreeMap<String, usize> {
    let mut t = BTreeMap::new();
    for o in owners.iter().flatten() {
        *t.entry(o.clone()).or_insert(0) += 1;
    }
    t
}

/// The current holder of `worker`'s shard.
pub async fn owner_of(nats: &Nats, worker: &WorkerId) -> Option<String> {
    shard_owners(nats)
        .await
        .swap_remove(nats.shard_of(worker) as usize)
}

/// Waits until `ids` together hold all shards, each holding some.
pub async fn wait_all_held_by(
    nats: &Nats,
    ids: &[&str],
    timeout: Duration,
) -> BTreeMap<String, usize> {
    let shards = nats.options().shards as usize;
    revenant_tests::wait_until(
        &format!("{ids:?} holding all {shards} shards"),
        timeout,
        || async {
            let owners = shard_owners(nats).await;
            let t = tally(&owners);
            let ok = owners
                .iter()
                .all(|o| o.as_deref().is_some_and(|o| ids.contains(&o)))
                && ids.iter().all(|i| t.contains_key(*i));
            ok.then_some(t)
        },
    )
    .await
}
