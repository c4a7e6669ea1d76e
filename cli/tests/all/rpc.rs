//! Worker-to-worker RPC across kill -9 (issue 13), with `revenant executor` child
//! processes running the order workflow (`order` → `payment` → `warehouse` →
//! `shipping`, typed calls):
//!
//! - for each of the three hops, the caller's executor and (separately) the callee's
//!   executor is SIGKILLed between the call's `RpcStarted` and its result — held open
//!   by SIGSTOPping the callee's executor once the call is journaled: the order
//!   completes, and each step's effect is applied exactly once (the callees' `count`s);
//! - 200 orders from 16 concurrent callers while one of three executors at a time is
//!   killed and replaced at three points of progress: every order completes with all
//!   three steps, each applied once.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Executor, invoke_retrying, owner_of, wait_all_held_by};
use revenant_nats::Nats;
use revenant_tests::revenant::{connect, deploy, invoke};
use revenant_tests::{NatsServer, wait_until};
use revenant_types::WorkerId;
use serde_json::json;

const STEPS: [&str; 3] = ["payment", "warehouse", "shipping"];

async fn deploy_workflow(nats: &Nats) {
    deploy(nats, "order", revenant_guests::ORDER).await;
    deploy(nats, "payment", revenant_guests::PAYMENT).await;
    deploy(nats, "warehouse", revenant_guests::WAREHOUSE).await;
    deploy(nats, "shipping", revenant_guests::SHIPPING).await;
}

fn id(c: &str, w: &str) -> WorkerId {
    WorkerId::parse(c, w).unwrap()
}

/// How many times each step was applied for order `w`.
async fn counts(nats: &Nats, w: &str) -> Vec<u64> {
    let mut out = Vec::new();
    for step in STEPS {
        let n = invoke(nats, &format!("{step}/{w}"), "count", json!([]), None).await;
        out.push(n.expect("count").as_u64().expect("a number"));
    }
    out
}

/// Places order `w` with a caller that retries with the same key until answered.
fn place(nats: &Nats, w: &str) -> tokio::task::JoinHandle<Option<String>> {
    let (nats, w) = (nats.clone(), w.to_owned());
    tokio::spawn(async move {
        let (answer, _) = invoke_retrying(
            &nats,
            &id("order", &w),
            "place",
            &json!([100]),
            &format!("place-{w}"),
            Duration::from_secs(3),
            Duration::from_secs(120),
        )
        .await?;
        answer.ok()?.as_str().map(str::to_owned)
    })
}

/// What the oplogs of order `w` and of its steps hold, one entry a line: printed when
/// the order was not answered, so that a failure says where the workflow stopped.
async fn journals(nats: &Nats, w: &str) -> String {
    let mut out = String::new();
    for c in std::iter::once("order").chain(STEPS) {
        match nats.oplog().read(&id(c, w), 1).await {
            Ok(read) => {
                out += &format!("\n{c}/{w} (last sequence {}):", read.last_seq);
                for (i, e) in read.entries {
                    let line: String = format!("{e:?}").chars().take(240).collect();
                    out += &format!("\n  {i}: {line}");
                }
            }
            Err(e) => out += &format!("\n{c}/{w}: {e}"),
        }
    }
    out
}

fn assert_complete(w: &str, summary: Option<String>) {
    let summary = summary.unwrap_or_else(|| panic!("order {w} was not answered with a summary"));
    assert!(
        summary.contains("charged 100 as ch-")
            && summary.contains("dispatched dsp-")
            && summary.contains("shipped trk-"),
        "order {w}: {summary}"
    );
}

#[derive(Debug, Clone, Copy)]
enum Side {
    Caller,
    Callee,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_hop_survives_kill_9_of_its_caller_or_its_callee_applying_each_step_once() {
    let _alone = common::alone().await;
    let server = NatsServer::start();
    let nats = connect(&server.options()).await;
    deploy_workflow(&nats).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut spawned = 0;
    let spawn = |spawned: &mut usize| {
        *spawned += 1;
        Executor::spawn(
            &server.url(),
            &[],
            &format!("rpc-{spawned}"),
            dir.path(),
            &[],
        )
    };
    let mut executors = vec![spawn(&mut spawned), spawn(&mut spawned)];
    let mut n = 0;
    for hop in 0..3 {
        for side in [Side::Caller, Side::Callee] {
            let names: Vec<String> = executors.iter().map(|e| e.id.clone()).collect();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            wait_all_held_by(&nats, &names, Duration::from_secs(60)).await;
            // An order whose caller runs on one executor and the hop's callee on the other,
            // with the earlier hops' callees beside the caller (the callee's executor is
            // stopped while the earlier hops run).
            let (w, caller, callee) = loop {
                n += 1;
                let w = format!("o{n}");
                let caller = owner_of(&nats, &id("order", &w)).await.expect("owned");
                let callee = owner_of(&nats, &id(STEPS[hop], &w)).await.expect("owned");
                let mut earlier_beside = true;
                for step in &STEPS[..hop] {
                    earlier_beside &=
                        owner_of(&nats, &id(step, &w)).await.as_ref() == Some(&caller);
                }
                if caller != callee && earlier_beside {
                    break (w, caller, callee);
                }
            };
            let at = |name: &str| executors.iter().position(|e| e.id == name).expect("alive");
            let (caller_at, callee_at) = (at(&caller), at(&callee));
            executors[callee_at].signal(libc::SIGSTOP);
            let answer = place(&nats, &w);
            wait_until(
                &format!("order {w} to begin its call to {}", STEPS[hop]),
                Duration::from_secs(60),
                || async { (common::calls_begun(&nats, &w).await > hop).then_some(()) },
            )
            .await;
            eprintln!(
                "[test] hop {hop} ({}), killing the {side:?}'s executor",
                STEPS[hop]
            );
            match side {
                Side::Caller => {
                    executors[caller_at].kill();
                    executors[callee_at].signal(libc::SIGCONT);
                    executors.remove(caller_at);
                }
                Side::Callee => {
                    executors[callee_at].kill();
                    executors.remove(callee_at);
                }
            }
            executors.push(spawn(&mut spawned));
            assert_complete(&w, answer.await.expect("the caller task"));
            assert_eq!(counts(&nats, &w).await, [1, 1, 1], "order {w}");
        }
    }
}

const ORDERS: usize = 200;
const CALLERS: usize = 16;
/// When an executor is killed: after this many orders were placed.
const KILL_AT: [usize; 3] = [40, 100, 160];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_orders_with_executor_kills_complete_with_each_step_applied_once() {
    let _alone = common::alone().await;
    let server = NatsServer::start();
    let nats = connect(&server.options()).await;
    deploy_workflow(&nats).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let (url, path) = (server.url(), dir.path().to_path_buf());
    let spawn = move |n: usize| Executor::spawn(&url, &[], &format!("orders-{n}"), &path, &[]);
    let mut executors: Vec<Executor> = (1..=3).map(&spawn).collect();
    wait_all_held_by(
        &nats,
        &["orders-1", "orders-2", "orders-3"],
        Duration::from_secs(60),
    )
    .await;

    let placed = Arc::new(AtomicUsize::new(0));
    let callers: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (nats, placed) = (nats.clone(), placed.clone());
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let i = placed.fetch_add(1, Ordering::SeqCst);
                    if i >= ORDERS {
                        break;
                    }
                    let w = format!("b{i}");
                    let summary = place(&nats, &w).await.expect("the caller task");
                    mine.push((w, summary));
                }
                mine
            })
        })
        .collect();
    for (k, at) in KILL_AT.iter().enumerate() {
        wait_until(
            &format!("{at} orders placed"),
            Duration::from_secs(300),
            || async { (placed.load(Ordering::SeqCst) >= *at).then_some(()) },
        )
        .await;
        let victim = k % executors.len();
        eprintln!("[test] killing {} after {at} orders", executors[victim].id);
        executors[victim].kill();
        executors[victim] = spawn(4 + k);
    }
    let mut answered = 0;
    for caller in callers {
        for (w, summary) in caller.await.expect("caller") {
            if summary.is_none() {
                eprintln!(
                    "[test] order {w} unanswered; journals:{}",
                    journals(&nats, &w).await
                );
            }
            assert_complete(&w, summary);
            answered += 1;
        }
    }
    assert_eq!(answered, ORDERS);
    for i in 0..ORDERS {
        let w = format!("b{i}");
        assert_eq!(counts(&nats, &w).await, [1, 1, 1], "order {w}");
    }
}
