//! Every user-facing example guest runs end to end through a real executor and
//! nats-server, invoked the two ways a Rust client can: a JetStream publish to
//! `rvn.invoke.<c>.<w>` with a reply inbox, and a core request on
//! `rvn.call.<c>.<w>`. Assertions are on the values the examples promise
//! (totals, cart contents and checkout, activity filters, sums and errors).

use crate::common;

use common::Env;
use revenant_tests::revenant::{call, invoke};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn counter_adds_through_invoke_and_call() {
    let mut env = Env::new(&[("counter", revenant_guests::COUNTER)]).await;
    let exec = env.executor().await;
    let nats = &env.nats;

    assert_eq!(
        invoke(nats, "counter/c1", "add", json!([5]), Some("c1-a")).await,
        Ok(json!(5))
    );
    assert_eq!(
        call(nats, "counter/c1", "add", json!([7])).await,
        Ok(json!(12))
    );
    // Full export name and the bare name reach the same function.
    assert_eq!(
        invoke(
            nats,
            "counter/c1",
            "example:counter/api.{add}",
            json!([3]),
            None
        )
        .await,
        Ok(json!(15))
    );
    assert_eq!(
        call(nats, "counter/c1", "get", json!([])).await,
        Ok(json!(15))
    );
    // Another worker of the same component has its own state.
    assert_eq!(
        call(nats, "counter/c2", "get", json!([])).await,
        Ok(json!(0))
    );
    // u64 wraps as documented.
    assert_eq!(
        call(nats, "counter/c2", "add", json!([u64::MAX])).await,
        Ok(json!(u64::MAX))
    );
    assert_eq!(
        call(nats, "counter/c2", "add", json!([2])).await,
        Ok(json!(1))
    );

    let random = call(nats, "counter/c3", "add-random", json!([]))
        .await
        .expect("add-random");
    assert!(random.is_u64(), "{random}");
    assert_eq!(call(nats, "counter/c3", "get", json!([])).await, Ok(random));
    let now = call(nats, "counter/c3", "now", json!([]))
        .await
        .expect("now");
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        now.as_u64().is_some_and(|n| n.abs_diff(wall) < 120),
        "now() = {now}, wall clock {wall}"
    );
    exec.stop().await;
}

fn item(id: &str, name: &str, price: f32, quantity: u32) -> serde_json::Value {
    json!({ "product-id": id, "name": name, "price": price, "quantity": quantity })
}

#[tokio::test(flavor = "multi_thread")]
async fn shopping_cart_adds_updates_removes_and_checks_out() {
    let mut env = Env::new(&[("shopping-cart", revenant_guests::SHOPPING_CART)]).await;
    let exec = env.executor().await;
    let nats = &env.nats;
    let w = "shopping-cart/alice";

    // Checking out an empty cart is the guest's error result, not a failure.
    assert_eq!(
        call(nats, w, "checkout", json!([])).await,
        Ok(json!({ "err": "cannot check out an empty cart" }))
    );
    assert_eq!(
        invoke(
            nats,
            w,
            "add-item",
            json!([item("p1", "Pen", 1.5, 2)]),
            None
        )
        .await,
        Ok(json!(null))
    );
    assert_eq!(
        call(nats, w, "add-item", json!([item("p2", "Book", 10.0, 1)])).await,
        Ok(json!(null))
    );
    // The same product again adds to its quantity and updates name and price.
    assert_eq!(
        call(nats, w, "add-item", json!([item("p1", "Blue pen", 2.0, 1)])).await,
        Ok(json!(null))
    );
    assert_eq!(
        call(nats, w, "get-cart", json!([])).await,
        Ok(json!([
            item("p1", "Blue pen", 2.0, 3),
            item("p2", "Book", 10.0, 1)
        ]))
    );

    assert_eq!(
        invoke(nats, w, "update-quantity", json!(["p2", 4]), None).await,
        Ok(json!({ "ok": null }))
    );
    assert_eq!(
        call(nats, w, "update-quantity", json!(["nope", 1])).await,
        Ok(json!({ "err": "product \"nope\" is not in the cart" }))
    );
    call(nats, w, "add-item", json!([item("p3", "Cup", 4.25, 1)]))
        .await
        .unwrap();
    assert_eq!(
        call(nats, w, "remove-item", json!(["p3"])).await,
        Ok(json!({ "ok": null }))
    );
    assert_eq!(
        call(nats, w, "remove-item", json!(["p3"])).await,
        Ok(json!({ "err": "product \"p3\" is not in the cart" }))
    );

    let order = invoke(nats, w, "checkout", json!([]), Some("alice-order-1"))
        .await
        .expect("checkout");
    assert_eq!(
        order,
        json!({ "ok": {
            "order-id": "order-1",
            "total": 46.0,
            "items": [item("p1", "Blue pen", 2.0, 3), item("p2", "Book", 10.0, 4)],
        }})
    );
    assert_eq!(call(nats, w, "get-cart", json!([])).await, Ok(json!([])));
    call(nats, w, "add-item", json!([item("p9", "Hat", 5.0, 1)]))
        .await
        .unwrap();
    let second = call(nats, w, "checkout", json!([]))
        .await
        .expect("checkout");
    assert_eq!(second["ok"]["order-id"], "order-2", "{second}");
    // Another user's cart is separate.
    assert_eq!(
        call(nats, "shopping-cart/bob", "get-cart", json!([])).await,
        Ok(json!([]))
    );
    exec.stop().await;
}

fn activity(kind: &str, description: &str, timestamp: u64) -> serde_json::Value {
    json!({ "kind": kind, "description": description, "timestamp": timestamp })
}

#[tokio::test(flavor = "multi_thread")]
async fn user_activities_filters_by_kind_since_and_limit() {
    let mut env = Env::new(&[("user-activities", revenant_guests::USER_ACTIVITIES)]).await;
    let exec = env.executor().await;
    let nats = &env.nats;
    let w = "user-activities/u1";
    let all = [
        activity("login", "web", 100),
        activity("purchase", "book", 200),
        activity("login", "mobile", 300),
        activity("comment", "nice", 400),
        activity("login", "web", 500),
    ];
    for (i, a) in all.iter().enumerate() {
        let r = if i % 2 == 0 {
            invoke(nats, w, "add-activity", json!([a]), None).await
        } else {
            call(nats, w, "add-activity", json!([a])).await
        };
        assert_eq!(r, Ok(json!(null)));
    }
    assert_eq!(call(nats, w, "count", json!([])).await, Ok(json!(5)));

    let list = |filter: serde_json::Value| call(nats, w, "list-activities", json!([filter]));
    let none = json!({ "kind": null, "since": null, "limit": null });
    assert_eq!(list(none).await, Ok(json!(all)));
    assert_eq!(
        list(json!({ "kind": "login", "since": null, "limit": null })).await,
        Ok(json!([all[0], all[2], all[4]]))
    );
    assert_eq!(
        list(json!({ "kind": null, "since": 300, "limit": null })).await,
        Ok(json!([all[2], all[3], all[4]]))
    );
    // Limit keeps the most recent matches, still oldest first.
    assert_eq!(
        list(json!({ "kind": "login", "since": null, "limit": 2 })).await,
        Ok(json!([all[2], all[4]]))
    );
    assert_eq!(
        list(json!({ "kind": "login", "since": 250, "limit": 1 })).await,
        Ok(json!([all[4]]))
    );
    // Omitted option fields count as none.
    assert_eq!(
        list(json!({ "kind": "purchase" })).await,
        Ok(json!([all[1]]))
    );
    assert_eq!(list(json!({ "kind": "logout" })).await, Ok(json!([])));
    assert_eq!(
        call(nats, "user-activities/u2", "count", json!([])).await,
        Ok(json!(0))
    );
    exec.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn json_sum_sums_and_reports_its_errors() {
    let mut env = Env::new(&[("json-sum", revenant_guests::JSON_SUM)]).await;
    let exec = env.executor().await;
    let nats = &env.nats;
    let w = "json-sum/f";
    assert_eq!(
        invoke(nats, w, "sum", json!(["[1, 2, 3]"]), None).await,
        Ok(json!({ "ok": 6 }))
    );
    assert_eq!(
        call(nats, w, "sum", json!(["[-5, 2]"])).await,
        Ok(json!({ "ok": -3 }))
    );
    assert_eq!(
        call(nats, w, "sum", json!(["[]"])).await,
        Ok(json!({ "ok": 0 }))
    );
    for bad in [
        "[1, \"x\"]",
        "{\"a\": 1}",
        "not json",
        "[1.5]",
        "[9223372036854775807, 1]",
    ] {
        let r = call(nats, w, "sum", json!([bad])).await;
        let err = r
            .as_ref()
            .ok()
            .and_then(|v| v.get("err"))
            .and_then(|e| e.as_str());
        assert!(
            err.is_some_and(|m| !m.is_empty()),
            "sum({bad}) should be an err result, got {r:?}"
        );
    }
    exec.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn approval_waits_suspended_for_its_promise_and_returns_the_payload() {
    use futures::StreamExt;
    let mut env = Env::new(&[("approval", revenant_guests::APPROVAL)]).await;
    let _exec = env.executor_with(|o| o.suspend_after_ms = 300).await;
    let nats = env.nats.clone();
    let w = "approval/order-7";
    let mut events = Box::pin(nats.subscribe_events(&common::worker(w)).await.unwrap());
    let request = tokio::spawn({
        let nats = nats.clone();
        async move { invoke(&nats, w, "request", json!(["new laptop"]), Some("ask-1")).await }
    });
    // The id it prints is the one to complete.
    let id = loop {
        let ev = tokio::time::timeout(common::TIMEOUT, events.next())
            .await
            .expect("an event")
            .expect("events");
        let ev: serde_json::Value = serde_json::from_slice(&ev).unwrap();
        if let Some(id) = ev["data"]
            .as_str()
            .and_then(|d| d.trim().strip_prefix("approval needed: "))
        {
            break id.to_owned();
        }
    };
    // It is suspended meanwhile (nothing held in memory), then completed.
    revenant_tests::wait_until("approval suspended", common::TIMEOUT, || async {
        let rec = common::record(&nats, w).await?;
        (rec.status == revenant_types::records::WorkerStatus::Suspended).then_some(())
    })
    .await;
    let done = nats
        .promises()
        .complete(&id.parse().unwrap(), "\"approved by Ada\"".into())
        .await
        .unwrap();
    assert!(done.completed());
    assert_eq!(
        request.await.unwrap(),
        Ok(json!("new laptop: \"approved by Ada\""))
    );
    // Its wasi:logging lines are `log` events with their level, each shown once: the
    // resumed worker replayed `request` from its start, and replay logs nothing. (Log
    // lines and `invocation-finished` are published by different tasks: read until
    // both the last line and the end have come, in whatever order.)
    let mut logs = Vec::new();
    let mut finished = None;
    let mut seen = Vec::new();
    while finished.is_none() || !logs.iter().any(|m: &String| m.contains("decided")) {
        let ev = tokio::time::timeout(common::TIMEOUT, events.next())
            .await
            .unwrap_or_else(|_| panic!("the log events and invocation-finished; saw {seen:?}"))
            .expect("events");
        let ev: serde_json::Value = serde_json::from_slice(&ev).unwrap();
        seen.push(ev.clone());
        if ev["kind"] == "log" {
            assert_eq!(ev["level"], "info", "{ev}");
            assert_eq!(ev["context"], "approval", "{ev}");
            logs.push(ev["message"].as_str().unwrap().to_owned());
        } else if ev["kind"] == "invocation-finished" {
            finished = Some(ev);
        }
    }
    assert_eq!(
        logs,
        [
            "waiting for approval of new laptop",
            "new laptop decided: \"approved by Ada\""
        ]
    );
    assert_eq!(finished.unwrap()["ok"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn reminder_sleeps_durably_and_returns_the_time_it_woke() {
    let mut env = Env::new(&[("reminder", revenant_guests::REMINDER)]).await;
    let _exec = env.executor_with(|o| o.suspend_after_ms = 300).await;
    let nats = &env.nats;
    let before = revenant_types::now_ms();
    let answer = invoke(
        nats,
        "reminder/r1",
        "remind-in",
        // Over 2.2 s, so that it suspends (a timer due sooner is waited in memory).
        json!([3, "water the plants"]),
        None,
    )
    .await
    .expect("the reminder");
    let text = answer.as_str().unwrap();
    let woke: u64 = text
        .strip_prefix("water the plants (woke at ")
        .and_then(|t| t.strip_suffix(')'))
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("unexpected answer {text:?}"));
    assert!(
        woke >= before + 3_000,
        "woke {} ms early",
        before + 3_000 - woke
    );
    // It was suspended on a timer and woken by its schedule.
    let entries = common::oplog(nats, "reminder/r1").await;
    assert!(entries.iter().any(|(_, e)| e.kind() == "suspended"));
    assert!(entries.iter().any(|(_, e)| e.kind() == "timer-fired"));
}
