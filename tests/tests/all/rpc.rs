//! Worker-to-worker RPC through real executors and a real nats-server
//! (ARCHITECTURE.md "Worker-to-worker RPC"): the order workflow's typed calls, each
//! effect applied once; untyped calls (await, send, async fan-out); cycles refused;
//! a waiting caller suspended and resumed by the result; a client that does not match
//! its callee refused at link time. Kill -9 of either side is in `cli/tests/all/rpc.rs`.

use revenant_tests::revenant::invoke;
use revenant_tests::wait_until;
use revenant_types::oplog::{InvocationOutcome, OplogEntry};
use revenant_types::records::WorkerStatus;
use serde_json::json;

use crate::common::{self, Env, TIMEOUT, kind, message, oplog, record};

const ORDER_WORKFLOW: [(&str, &str); 4] = [
    ("order", revenant_guests::ORDER),
    ("payment", revenant_guests::PAYMENT),
    ("warehouse", revenant_guests::WAREHOUSE),
    ("shipping", revenant_guests::SHIPPING),
];

/// How many times worker `w` of each callee applied its effect.
async fn counts(nats: &revenant_nats::Nats, w: &str) -> [u64; 3] {
    let mut out = [0; 3];
    for (i, c) in ["payment", "warehouse", "shipping"].iter().enumerate() {
        let answer = invoke(nats, &format!("{c}/{w}"), "count", json!([]), None).await;
        out[i] = answer.expect("count").as_u64().expect("a number");
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn an_order_is_charged_dispatched_and_shipped_once_through_typed_calls() {
    let mut env = Env::new(&ORDER_WORKFLOW).await;
    let _exec = env.executor().await;
    let nats = &env.nats;

    let summary = invoke(nats, "order/o1", "place", json!([100]), Some("o1-place")).await;
    let summary = summary.expect("the order completes");
    let summary = summary.as_str().expect("a summary");
    assert!(
        summary.starts_with("order o1: charged 100 as ch-"),
        "{summary}"
    );
    assert!(
        summary.contains("dispatched dsp-") && summary.contains("shipped trk-"),
        "{summary}"
    );
    assert_eq!(counts(nats, "o1").await, [1, 1, 1]);

    // The same order again (same key): the recorded summary, nothing applied again.
    let again = invoke(nats, "order/o1", "place", json!([100]), Some("o1-place")).await;
    assert_eq!(again.as_ref().ok().and_then(|v| v.as_str()), Some(summary));
    assert_eq!(counts(nats, "o1").await, [1, 1, 1]);

    // The caller's journal: three calls begun, sent, and completed with the callees' answers.
    let entries = oplog(nats, "order/o1").await;
    let started: Vec<&str> = entries
        .iter()
        .filter_map(|(_, e)| match e {
            OplogEntry::BeginRemoteWrite { function, .. } => Some(function.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(started, ["revenant:api/rpc.invoke-and-await"; 3]);
    let completed: Vec<&InvocationOutcome> = entries
        .iter()
        .filter_map(|(_, e)| match e {
            OplogEntry::RpcCompleted { outcome, .. } => Some(outcome),
            _ => None,
        })
        .collect();
    assert_eq!(completed.len(), 3);
    assert!(
        completed
            .iter()
            .all(|o| matches!(o, InvocationOutcome::Ok(_)))
    );
    // The callee's journal names the caller.
    let payment = oplog(nats, "payment/o1").await;
    let caller = payment.iter().find_map(|(_, e)| match e {
        OplogEntry::InvocationStarted {
            caller, function, ..
        } if function.ends_with("{charge}") => caller.clone(),
        _ => None,
    });
    let caller = caller.expect("the charge invocation records its caller");
    assert_eq!(caller.worker, "order/o1");
    assert_eq!(caller.chain, ["order/o1"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn fan_out_joins_async_calls_to_many_workers() {
    let mut env = Env::new(&[
        ("fan-out", revenant_guests::FAN_OUT),
        ("square", revenant_guests::SQUARE),
    ])
    .await;
    let _exec = env.executor().await;
    let sum = invoke(&env.nats, "fan-out/f1", "sum-squares", json!([20]), None).await;
    assert_eq!(sum, Ok(json!((0..20u64).map(|i| i * i).sum::<u64>())));
    // Each square ran on its own worker.
    let record = record(&env.nats, "square/f1-19")
        .await
        .expect("worker f1-19 exists");
    assert_eq!(record.id.worker.as_str(), "f1-19");
}

#[tokio::test(flavor = "multi_thread")]
async fn untyped_calls_await_send_and_fan_out_with_json() {
    let mut env = Env::new(&[
        ("test-durability", revenant_guests::TEST_DURABILITY),
        ("counter", revenant_guests::COUNTER),
    ])
    .await;
    let _exec = env.executor().await;
    let nats = &env.nats;
    let call = |function: &'static str, args: serde_json::Value| async move {
        invoke(nats, "test-durability/a", function, args, None).await
    };
    assert_eq!(
        call("call", json!(["counter", "c1", "add", "[5]"])).await,
        Ok(json!({ "ok": "5" }))
    );
    let sent = call("send", json!(["counter", "c1", "add", "[2]"])).await;
    let key = sent.expect("sent")["ok"]
        .as_str()
        .expect("the call's key")
        .to_owned();
    assert!(key.starts_with("rpc-"), "{key}");
    wait_until("the sent add applied", TIMEOUT, || async {
        let total = invoke(nats, "counter/c1", "get", json!([]), None).await;
        (total == Ok(json!(7))).then_some(())
    })
    .await;
    assert_eq!(
        call("call-all", json!(["counter", "n", 4, "add"])).await,
        Ok(json!(["0", "1", "2", "3"]))
    );
    // Errors arrive typed: an unknown function, bad JSON, an invalid target.
    let e = call("call", json!(["counter", "c1", "nope", "[]"])).await;
    let e = e.expect("answered")["err"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(e.starts_with("not-found: unknown-function"), "{e}");
    let e = call("call", json!(["counter", "c1", "add", "[5"])).await;
    let e = e.expect("answered")["err"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(e.starts_with("protocol:") && e.contains("not JSON"), "{e}");
    let e = call("call", json!(["counter", "c 1", "add", "[5]"])).await;
    let e = e.expect("answered")["err"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        e.starts_with("protocol:") && e.contains("counter/c 1"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_await_that_would_close_a_cycle_fails_with_cycle_instead_of_deadlocking() {
    let mut env = Env::new(&[("test-durability", revenant_guests::TEST_DURABILITY)]).await;
    let _exec = env.executor().await;
    let nats = &env.nats;
    // a awaits b, which awaits a: b's call is refused at once.
    let inner = json!(["test-durability", "a", "whoami", "[]"]).to_string();
    let answer = invoke(
        nats,
        "test-durability/a",
        "call",
        json!(["test-durability", "b", "call", inner]),
        None,
    )
    .await;
    let from_b = answer.expect("a is answered")["ok"]
        .as_str()
        .expect("b's result")
        .to_owned();
    let from_b: serde_json::Value = serde_json::from_str(&from_b).expect("JSON");
    let e = from_b["err"].as_str().expect("b got an error");
    assert!(e.starts_with("cycle:"), "{e}");
    assert!(
        e.contains("test-durability/a → test-durability/b → test-durability/a"),
        "{e}"
    );
    // Awaiting itself is a cycle too; sending to itself is fine.
    let e = invoke(
        nats,
        "test-durability/c",
        "call",
        json!(["test-durability", "c", "whoami", "[]"]),
        None,
    )
    .await;
    let e = e.expect("answered")["err"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(e.starts_with("cycle:") && e.contains("itself"), "{e}");
    let sent = invoke(
        nats,
        "test-durability/c",
        "send",
        json!(["test-durability", "c", "whoami", "[]"]),
        None,
    )
    .await;
    assert!(sent.expect("answered").get("ok").is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_caller_waiting_on_a_slow_callee_is_suspended_and_resumed_by_the_result() {
    let mut env = Env::new(&[("test-durability", revenant_guests::TEST_DURABILITY)]).await;
    let _exec = env.executor_with(|o| o.suspend_after_ms = 300).await;
    let nats = env.nats.clone();
    let waiter = tokio::spawn(async move {
        invoke(
            &nats,
            "test-durability/slow-caller",
            "call",
            json!(["test-durability", "sleeper", "sleep", "[4000]"]),
            None,
        )
        .await
    });
    let nats = &env.nats;
    let waiting = wait_until("the caller suspended on its call", TIMEOUT, || async {
        let r = record(nats, "test-durability/slow-caller").await?;
        (r.status == WorkerStatus::Suspended && !r.waiting.is_empty()).then_some(r.waiting)
    })
    .await;
    assert!(waiting.iter().all(|w| w.starts_with("rpc:")), "{waiting:?}");
    let answer = waiter.await.expect("the caller is answered");
    let woke = answer.expect("ok")["ok"]
        .as_str()
        .expect("the sleeper's result")
        .to_owned();
    assert!(woke.parse::<u64>().is_ok(), "{woke}");
    let entries = oplog(nats, "test-durability/slow-caller").await;
    let kinds: Vec<&str> = entries.iter().map(|(_, e)| e.kind()).collect();
    let suspended = kinds
        .iter()
        .position(|k| *k == "suspended")
        .expect("suspended");
    let completed = kinds
        .iter()
        .position(|k| *k == "rpc-completed")
        .expect("rpc-completed");
    let resumed = kinds
        .iter()
        .rposition(|k| *k == "resumed")
        .expect("resumed");
    assert!(suspended < completed && completed < resumed, "{kinds:?}");
}

/// A `payment` whose `charge` takes a string: `order`'s client (u64) does not match.
const WRONG_PAYMENT: &str = r#"
package example:payment;
interface api {
    charge: func(amount: string) -> string;
    count: func() -> u64;
}
world payment { export api; }
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_does_not_match_its_callee_is_refused_at_link_time() {
    let mut env = Env::new(&[("order", revenant_guests::ORDER)]).await;
    let _exec = env.executor().await;
    let nats = &env.nats;
    // No payment component at all.
    let e = invoke(nats, "order/o1", "place", json!([1]), None)
        .await
        .unwrap_err();
    assert_eq!(kind(&e), "invalid-component", "{e}");
    assert!(
        message(&e).contains("example:payment-client/api") && message(&e).contains("payment"),
        "{e}"
    );
    // A payment with other types: the function and both types are named.
    let wrong = revenant_components::fixtures::component_of(WRONG_PAYMENT, "payment");
    nats.components()
        .upload(&"payment".parse().unwrap(), wrong)
        .await
        .expect("upload");
    let e = invoke(nats, "order/o2", "place", json!([1]), None)
        .await
        .unwrap_err();
    assert_eq!(kind(&e), "invalid-component", "{e}");
    let m = message(&e);
    assert!(
        m.contains("[method]api.charge") && m.contains("(u64)") && m.contains("(string)"),
        "{m}"
    );
    common::ready(nats).await;
}

/// Callers (and callees) suspended together.
const SUSPENDED_CALLERS: usize = 1_000;

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_callers_awaiting_slow_callees_are_suspended_holding_no_memory() {
    let mut env = Env::new(&[("test-durability", revenant_guests::TEST_DURABILITY)]).await;
    let _exec = env.executor_with(|o| o.suspend_after_ms = 300).await;
    // Long enough for every caller to be waiting before the first sleeper wakes.
    let sleep_ms = 25_000;
    let answers: Vec<_> = (0..SUSPENDED_CALLERS)
        .map(|i| {
            let nats = env.nats.clone();
            let args = json!([
                "test-durability",
                format!("sleeper-{i}"),
                "sleep",
                format!("[{sleep_ms}]")
            ]);
            tokio::spawn(async move {
                let replies = nats.replies().await.expect("inbox");
                let mut inbox = replies.inbox();
                let req = revenant_nats::invocations::InvocationRequest {
                    function: "call".into(),
                    body: args.to_string().into(),
                    ..Default::default()
                };
                let worker = common::worker(&format!("test-durability/caller-{i}"));
                nats.invoke_and_await(
                    &worker,
                    req,
                    &mut inbox,
                    std::time::Duration::from_secs(120),
                )
                .await
                .expect("publish")
                .outcome
            })
        })
        .collect();
    let nats = &env.nats;
    // Every caller is suspended on its call, and the executor holds no worker in memory.
    wait_until(
        "every caller suspended on its call",
        std::time::Duration::from_secs(120),
        || async {
            let records = nats
                .workers()
                .list(Some(&"test-durability".parse().unwrap()))
                .await
                .ok()?;
            let suspended = records
                .iter()
                .filter(|r| {
                    r.id.worker.as_str().starts_with("caller-")
                        && r.status == WorkerStatus::Suspended
                        && r.waiting.iter().any(|w| w.starts_with("rpc:"))
                })
                .count();
            (suspended == SUSPENDED_CALLERS).then_some(())
        },
    )
    .await;
    let in_memory = wait_until(
        "the executor to hold (almost) no worker",
        TIMEOUT,
        || async {
            let live = nats.executors().live(60_000).await.ok()?;
            let n = live.first()?.workers_in_memory;
            (n <= 10).then_some(n)
        },
    )
    .await;
    eprintln!("[test] {SUSPENDED_CALLERS} callers suspended; workers in memory: {in_memory}");
    for answer in answers {
        let outcome = answer
            .await
            .expect("task")
            .expect("every caller is answered");
        let InvocationOutcome::Ok(json) = outcome else {
            panic!("a caller failed: {outcome:?}");
        };
        assert!(json.contains("\"ok\""), "{json}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scheduled_call_fires_once_at_its_time_and_a_cancelled_one_never() {
    let mut env = Env::new(&[
        ("test-durability", revenant_guests::TEST_DURABILITY),
        ("counter", revenant_guests::COUNTER),
    ])
    .await;
    let _exec = env.executor().await;
    let nats = &env.nats;
    let schedule = |at: u64, args: &'static str| async move {
        let answer = invoke(
            nats,
            "test-durability/planner",
            "schedule",
            json!([at, "counter", "s1", "add", args]),
            None,
        )
        .await;
        answer.expect("answered")["ok"]
            .as_str()
            .expect("a schedule id")
            .to_owned()
    };
    let now = revenant_types::now_ms();
    let cancelled = schedule(now + 2_000, "[100]").await;
    let kept = schedule(now + 3_000, "[5]").await;
    assert!(kept.starts_with("i-rpc-"), "{kept}");
    let cancel = invoke(
        nats,
        "test-durability/planner",
        "cancel-schedule",
        json!(["counter", "s1", cancelled]),
        None,
    )
    .await;
    assert_eq!(cancel, Ok(json!({ "ok": true })));
    // The later one fires (not before its time); the earlier, cancelled one never did.
    let total = wait_until("the kept schedule to fire", TIMEOUT, || async {
        let total = invoke(nats, "counter/s1", "get", json!([]), None).await;
        (total != Ok(json!(0))).then_some(total)
    })
    .await;
    assert!(revenant_types::now_ms() >= now + 3_000);
    assert_eq!(total, Ok(json!(5)));
    let adds = oplog(nats, "counter/s1")
        .await
        .iter()
        .filter(|(_, e)| {
            matches!(e, OplogEntry::InvocationStarted { function, .. } if function.ends_with("{add}"))
        })
        .count();
    assert_eq!(adds, 1, "the kept schedule fired once");
}
