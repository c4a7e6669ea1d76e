//! The keyed invocation stream of the multi-process tests: callers that retry
//! with the SAME key until answered (the reply inbox stays subscribed across
//! attempts; a retry swallowed by JetStream's duplicate window is answered from
//! `RVN_RESULTS`, the architecture's late pickup), and the checks on what the
//! callers were answered.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use revenant_nats::invocations::InvocationRequest;
use revenant_nats::reply::Awaited;
use revenant_nats::{Nats, headers};
use revenant_tests::revenant::answer;
use revenant_types::WorkerId;
use serde_json::Value;

/// `Ok(json)` for `Rvn-Status: ok`, `Err(json)` otherwise.
pub type Answer = Result<Value, Value>;

/// Publishes `function(args)` with idempotency key `key` to `worker` (the nats crate's
/// invoke-and-await), re-publishing with the same key and the same reply inbox every
/// `per_attempt` until answered (or until a result is stored under the key in
/// `RVN_RESULTS`). `None` after `overall`. Returns the answer and the number of publish
/// attempts.
pub async fn invoke_retrying(
    nats: &Nats,
    worker: &WorkerId,
    function: &str,
    args: &Value,
    key: &str,
    per_attempt: Duration,
    overall: Duration,
) -> Option<(Answer, u32)> {
    let deadline = Instant::now() + overall;
    let replies = nats.replies().await.ok()?;
    let mut inbox = replies.inbox();
    let req = InvocationRequest {
        function: function.to_owned(),
        idempotency_key: Some(key.to_owned()),
        reply_to: None,
        content_type: Some(headers::CONTENT_TYPE_JSON.to_owned()),
        body: args.to_string().into(),
        trace: Default::default(),
        caller: None,
        subscription: None,
        index: false,
    };
    let mut attempts = 0;
    while Instant::now() < deadline {
        attempts += 1;
        let attempt = nats.invoke_and_await(worker, req.clone(), &mut inbox, per_attempt);
        match tokio::time::timeout(per_attempt * 2, attempt).await {
            Ok(Ok(Awaited {
                outcome: Some(outcome),
                ..
            })) => return Some((answer(outcome), attempts)),
            Ok(Ok(_)) => {}
            // A failed publish (e.g. the NATS node just died) is simply another attempt;
            // the inbox stays the same, so an answer to an earlier attempt still counts.
            _ => {
                if let Ok(Some(outcome)) = tokio::time::timeout(per_attempt, inbox.next()).await {
                    return Some((answer(outcome), attempts));
                }
            }
        }
        if let Ok(Some(rec)) = nats.results().get(worker, key).await {
            return Some((answer(rec.outcome), attempts));
        }
    }
    None
}

/// One answered invocation of a [`Load`].
#[derive(Debug, Clone)]
pub struct Answered {
    pub key: String,
    pub worker: String,
    pub answer: Answer,
    pub attempts: u32,
    pub at: Instant,
}

/// A keyed stream of `add(1)` invocations from `callers` concurrent callers, spread
/// round-robin over `workers`, until `limit` keys were issued or [`Load::stop`].
pub struct Load {
    issued: Arc<AtomicUsize>,
    answered: Arc<Mutex<Vec<Answered>>>,
    unanswered: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    pub started: Instant,
}

impl Load {
    pub fn start(
        nats: &Nats,
        component: &str,
        workers: &[String],
        callers: usize,
        limit: usize,
    ) -> Self {
        let run = uuid::Uuid::new_v4().simple().to_string();
        let issued = Arc::new(AtomicUsize::new(0));
        let answered = Arc::new(Mutex::new(Vec::new()));
        let unanswered = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let workers: Arc<Vec<String>> = Arc::new(workers.to_vec());
        let tasks = (0..callers)
            .map(|_| {
                let (nats, run, issued, answered, unanswered, stop, workers) = (
                    nats.clone(),
                    run.clone(),
                    issued.clone(),
                    answered.clone(),
                    unanswered.clone(),
                    stop.clone(),
                    workers.clone(),
                );
                let component = component.to_owned();
                tokio::spawn(async move {
                    while !stop.load(Ordering::SeqCst) {
                        let i = issued.fetch_add(1, Ordering::SeqCst);
                        if i >= limit {
                            break;
                        }
                        let worker = workers[i % workers.len()].clone();
                        let id = WorkerId::parse_path(&format!("{component}/{worker}"))
                            .expect("worker id");
                        let key = format!("{run}-{i}");
                        let per = Duration::from_secs(3);
                        match invoke_retrying(
                            &nats,
                            &id,
                            "add",
                            &serde_json::json!([1]),
                            &key,
                            per,
                            Duration::from_secs(45),
                        )
                        .await
                        {
                            Some((answer, attempts)) => {
                                answered.lock().expect("lock").push(Answered {
                                    key,
                                    worker,
                                    answer,
                                    attempts,
                                    at: Instant::now(),
                                })
                            }
                            None => unanswered.lock().expect("lock").push(key),
                        }
                    }
                })
            })
            .collect();
        Self {
            issued,
            answered,
            unanswered,
            stop,
            tasks,
            started: Instant::now(),
        }
    }

    /// How many invocations were answered so far.
    pub fn answered(&self) -> usize {
        self.answered.lock().expect("lock").len()
    }

    /// Answers so far (a copy).
    pub fn snapshot(&self) -> Vec<Answered> {
        self.answered.lock().expect("lock").clone()
    }

    /// Waits until at least `n` invocations were answered.
    pub async fn wait_answered(&self, n: usize, timeout: Duration) {
        revenant_tests::wait_until(&format!("{n} answered invocations"), timeout, || async {
            (self.answered() >= n).then_some(())
        })
        .await;
    }

    /// Stops issuing new keys, lets every caller finish its current one, returns
    /// (answered, keys never answered).
    pub async fn stop(mut self) -> (Vec<Answered>, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        self.finish().await
    }

    /// Waits until the `limit` keys are all issued and finished.
    pub async fn finish(&mut self) -> (Vec<Answered>, Vec<String>) {
        for t in self.tasks.drain(..) {
            t.await.expect("caller task");
        }
        let answered = std::mem::take(&mut *self.answered.lock().expect("lock"));
        let unanswered = std::mem::take(&mut *self.unanswered.lock().expect("lock"));
        (answered, unanswered)
    }
}

/// Every caller was answered, every answer is `ok`, and per worker the returned totals
/// are exactly 1..=n (each `add(1)` applied once, in some order). Returns keys per worker.
pub fn check_answers(
    answered: &[Answered],
    unanswered: &[String],
) -> BTreeMap<String, HashSet<String>> {
    assert!(
        unanswered.is_empty(),
        "{} caller(s) never got an answer, e.g. {:?}",
        unanswered.len(),
        &unanswered[..unanswered.len().min(5)]
    );
    let mut keys: BTreeMap<String, HashSet<String>> = BTreeMap::new();
    let mut totals: HashMap<String, Vec<u64>> = HashMap::new();
    for a in answered {
        let v = a
            .answer
            .as_ref()
            .unwrap_or_else(|e| panic!("invocation {} on {} failed: {e}", a.key, a.worker));
        let total = v
            .as_u64()
            .unwrap_or_else(|| panic!("add returned {v}, not a u64"));
        assert!(
            keys.entry(a.worker.clone())
                .or_default()
                .insert(a.key.clone()),
            "key {} answered twice",
            a.key
        );
        totals.entry(a.worker.clone()).or_default().push(total);
    }
    for (w, mut t) in totals {
        t.sort_unstable();
        let expected: Vec<u64> = (1..=t.len() as u64).collect();
        assert_eq!(
            t,
            expected,
            "worker {w}: the totals returned by add(1) are not exactly 1..={} (lost or doubled adds)",
            expected.len()
        );
    }
    keys
}

/// `get()` on a worker (a fresh key), retried like any other invocation.
pub async fn get(nats: &Nats, worker: &WorkerId) -> u64 {
    let key = format!("get-{}", uuid::Uuid::new_v4().simple());
    let (answer, _) = invoke_retrying(
        nats,
        worker,
        "get",
        &serde_json::json!([]),
        &key,
        Duration::from_secs(3),
        Duration::from_secs(30),
    )
    .await
    .unwrap_or_else(|| panic!("no answer to get on {worker}"));
    answer
        .unwrap_or_else(|e| panic!("get on {worker} failed: {e}"))
        .as_u64()
        .expect("get returns a u64")
}

/// Kill → first answer after the stall the kill caused: the end of the longest gap between
/// consecutive answers that ends after `killed_at` (answers the dead executor had already
/// sent, arriving just after the kill, do not count as a takeover).
pub fn takeover_time(answered: &[Answered], killed_at: Instant) -> Duration {
    let mut times: Vec<Instant> = answered.iter().map(|a| a.at).collect();
    times.sort_unstable();
    let stall_end = times
        .windows(2)
        .filter(|w| w[1] > killed_at)
        .max_by_key(|w| w[1] - w[0])
        .map(|w| w[1])
        .expect("answers after the kill");
    stall_end.saturating_duration_since(killed_at)
}
