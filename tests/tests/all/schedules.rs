//! Scheduled invocations and cron (ARCHITECTURE.md "Scheduled invocations and
//! cron") against a real nats-server and executor: a one-off fires once, on
//! time; a cancelled one never fires; a replaced one fires once; `@every 1s`
//! gives a firing a second, each applied once; a cron expression in a time zone
//! fires at the right UTC instant; overlap `skip` drops firings while a slow one
//! runs; a nats-server down across three firings gives one catch-up firing, and
//! a one-off later than its catch-up bound is skipped and recorded; bad input
//! and evicting stream limits are refused with a message saying what was
//! expected. Kill -9 of an executor around firings is `cli/tests/all/schedules.rs`.
//!
//! Time-based assertions are tolerant (two shared cores): "not before its time,
//! within a few seconds after". Negative checks ("never fires") wait for a later
//! fence schedule on the same worker, never a guessed sleep.

use crate::common;

use std::collections::HashSet;
use std::time::Duration;

use common::{Env, TIMEOUT, oplog, worker};
use revenant_nats::schedules::{self, ScheduleInfo};
use revenant_nats::{Error, Nats};
use revenant_tests::revenant::invoke;
use revenant_tests::wait_until;
use revenant_types::now_ms;
use revenant_types::oplog::OplogEntry;
use revenant_types::schedule::{self as sched, FiringOutcome, Overlap, ScheduleSpec, When};
use serde_json::json;

/// A firing as the oplog shows it: (start time, key).
async fn firings(nats: &Nats, w: &str, id: &str) -> Vec<(u64, String)> {
    oplog(nats, w)
        .await
        .into_iter()
        .filter_map(|(_, e)| match e {
            OplogEntry::InvocationStarted {
                at,
                idempotency_key,
                schedule: Some(s),
                ..
            } if s == id => Some((at, idempotency_key)),
            _ => None,
        })
        .collect()
}

async fn skips(nats: &Nats, w: &str, id: &str) -> Vec<String> {
    oplog(nats, w)
        .await
        .into_iter()
        .filter_map(|(_, e)| match e {
            OplogEntry::FiringSkipped {
                schedule,
                idempotency_key,
                ..
            } if schedule == id => Some(idempotency_key),
            _ => None,
        })
        .collect()
}

fn spec(w: &str, id: &str, when: When, function: &str, args: &serde_json::Value) -> ScheduleSpec {
    let idempotency_key = match &when {
        When::At(at) => Some(format!("{id}@{at}")),
        When::Cron { .. } => None,
    };
    ScheduleSpec {
        worker: worker(w),
        id: id.to_owned(),
        when,
        function: function.to_owned(),
        args: args.to_string(),
        content_type: None,
        idempotency_key,
        overlap: Overlap::Queue,
        catchup_secs: None,
        trace: Default::default(),
    }
}

/// The next whole second at least `ahead_ms` from now.
fn second_after(ahead_ms: u64) -> u64 {
    (now_ms() + ahead_ms).div_ceil(1_000) * 1_000
}

async fn wait_firings(nats: &Nats, w: &str, id: &str, n: usize) -> Vec<(u64, String)> {
    wait_until(&format!("{n} firing(s) of {w} {id}"), TIMEOUT, || async {
        let f = firings(nats, w, id).await;
        (f.len() >= n).then_some(f)
    })
    .await
}

async fn counter(nats: &Nats, w: &str) -> u64 {
    invoke(nats, w, "get", json!([]), None)
        .await
        .expect("get")
        .as_u64()
        .expect("a number")
}

async fn info(nats: &Nats, w: &str, id: &str) -> Option<ScheduleInfo> {
    schedules::get(nats, &worker(w), id)
        .await
        .expect("read schedule")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_one_off_fires_once_on_time_and_its_last_firing_is_listed() {
    let mut env = Env::new(&[("counter", revenant_guests::COUNTER)]).await;
    let _exec = env.executor().await;
    let nats = &env.nats;
    let w = "counter/once";
    let at = second_after(2_000);
    let s = spec(w, "i-once", When::At(at), "add", &json!([7]));
    let put = schedules::put(nats, &s).await.unwrap();
    assert_eq!(put.subject, "rvn.schedule.counter.once.i-once");
    let listed = schedules::list(nats, Some(&worker(w))).await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(listed[0].pending);
    assert_eq!(
        listed[0].next.as_deref(),
        Some(sched::rfc3339_second(at).unwrap().as_str())
    );

    let fired = wait_firings(nats, w, "i-once", 1).await;
    let (started, key) = &fired[0];
    assert!(*started >= at, "fired {} ms before its time", at - started);
    assert!(*started < at + 5_000, "fired {} ms late", started - at);
    assert_eq!(key, &format!("i-once@{at}"));
    // Published again after it fired (a retrying client): the same key, not applied again.
    schedules::put(nats, &s).await.unwrap();
    let last = wait_until(
        "the re-published one-off fired and was recorded",
        TIMEOUT,
        || async {
            let i = info(nats, w, "i-once").await?;
            (!i.pending).then_some(i.last_firing?)
        },
    )
    .await;
    assert_eq!(last.outcome, FiringOutcome::Ok);
    assert_eq!(counter(nats, w).await, 7, "applied once");
    assert_eq!(firings(nats, w, "i-once").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_schedule_never_fires_and_a_replaced_one_fires_once() {
    let mut env = Env::new(&[("counter", revenant_guests::COUNTER)]).await;
    let _exec = env.executor().await;
    let nats = &env.nats;
    let w = "counter/cancel";
    let at = second_after(3_000);
    schedules::put(
        nats,
        &spec(w, "i-cancelled", When::At(at), "add", &json!([100])),
    )
    .await
    .unwrap();
    // Replaced twice (same id, other times and arguments): one holder, the last one.
    schedules::put(
        nats,
        &spec(w, "i-replaced", When::At(at + 5_000), "add", &json!([10])),
    )
    .await
    .unwrap();
    schedules::put(
        nats,
        &spec(w, "i-replaced", When::At(at), "add", &json!([1])),
    )
    .await
    .unwrap();
    assert!(
        schedules::cancel(nats, &worker(w), "i-cancelled")
            .await
            .unwrap()
    );
    assert!(
        !schedules::cancel(nats, &worker(w), "i-cancelled")
            .await
            .unwrap(),
        "cancelled already"
    );
    // The fence fires after both were due.
    schedules::put(
        nats,
        &spec(w, "i-fence", When::At(at + 2_000), "add", &json!([1_000])),
    )
    .await
    .unwrap();
    wait_firings(nats, w, "i-fence", 1).await;
    assert!(
        firings(nats, w, "i-cancelled").await.is_empty(),
        "a cancelled schedule fired"
    );
    assert_eq!(firings(nats, w, "i-replaced").await.len(), 1);
    assert_eq!(counter(nats, w).await, 1_001);
    assert!(info(nats, w, "i-cancelled").await.is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn every_second_for_ten_seconds_gives_ten_distinct_firings_each_applied_once() {
    let mut env = Env::new(&[("counter", revenant_guests::COUNTER)]).await;
    let _exec = env.executor().await;
    let nats = &env.nats;
    let w = "counter/tick";
    let when = When::cron("@every 1s", None).unwrap();
    schedules::put(nats, &spec(w, "c-tick", when, "add", &json!([1])))
        .await
        .unwrap();
    let fired = wait_firings(nats, w, "c-tick", 11).await;
    assert!(schedules::cancel(nats, &worker(w), "c-tick").await.unwrap());
    let span = fired[10].0 - fired[0].0;
    assert!(
        (7_000..=13_000).contains(&span),
        "10 intervals of @every 1s took {span} ms"
    );
    let keys: HashSet<_> = fired.iter().map(|(_, k)| k.clone()).collect();
    assert_eq!(keys.len(), fired.len(), "a key started twice: {fired:?}");
    assert!(
        keys.iter()
            .all(|k| k.starts_with("rvn.schedule.counter.tick.c-tick@")),
        "{keys:?}"
    );
    // Every firing applied once: the total is the number of distinct firings (those in
    // flight when it was cancelled included).
    let total = counter(nats, w).await;
    let applied = firings(nats, w, "c-tick").await.len() as u64;
    assert_eq!(total, applied);
    let last = info(nats, w, "c-tick")
        .await
        .expect("its last firing is kept");
    assert!(!last.pending);
    assert_eq!(
        last.last_firing.expect("recorded").outcome,
        FiringOutcome::Ok
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cron_with_a_time_zone_fires_at_the_right_utc_instant() {
    let mut env = Env::new(&[("counter", revenant_guests::COUNTER)]).await;
    let _exec = env.executor().await;
    let nats = &env.nats;
    let w = "counter/kathmandu";
    // Asia/Kathmandu is UTC+05:45 all year: a cron of its wall clock fires 5h45m earlier in UTC.
    let at = second_after(3_000);
    let local = time::OffsetDateTime::from_unix_timestamp((at / 1_000) as i64).unwrap()
        + time::Duration::minutes(5 * 60 + 45);
    let expr = format!(
        "{} {} {} * * *",
        local.second(),
        local.minute(),
        local.hour()
    );
    let when = When::cron(&expr, Some("Asia/Kathmandu")).unwrap();
    schedules::put(nats, &spec(w, "c-daily", when, "add", &json!([1])))
        .await
        .unwrap();
    let listed = info(nats, w, "c-daily").await.unwrap();
    assert_eq!(listed.time_zone.as_deref(), Some("Asia/Kathmandu"));
    let fired = wait_firings(nats, w, "c-daily", 1).await;
    assert!(fired[0].0 >= at, "fired {} ms before {at}", at - fired[0].0);
    assert!(fired[0].0 < at + 5_000, "fired {} ms late", fired[0].0 - at);
    // Its next firing is a day later, as the server says.
    let last = wait_until("the firing recorded", TIMEOUT, || async {
        info(nats, w, "c-daily").await?.last_firing
    })
    .await;
    let next = sched::parse_at(last.next.as_deref().expect("next")).unwrap();
    assert_eq!(next, at + 86_400_000, "next {:?}", last.next);
}

#[tokio::test(flavor = "multi_thread")]
async fn overlap_skip_drops_firings_while_a_slow_one_runs() {
    let mut env = Env::new(&[("waits", revenant_guests::TEST_DURABILITY)]).await;
    let _exec = env.executor().await;
    let nats = &env.nats;
    let w = "waits/slow";
    let mut s = spec(
        w,
        "c-slow",
        When::cron("@every 1s", None).unwrap(),
        "sleep",
        &json!([2_500]),
    );
    s.overlap = Overlap::Skip;
    schedules::put(nats, &s).await.unwrap();
    wait_until("two runs and a skipped firing", TIMEOUT, || async {
        let (f, k) = (
            firings(nats, w, "c-slow").await,
            skips(nats, w, "c-slow").await,
        );
        (f.len() >= 2 && !k.is_empty()).then_some(())
    })
    .await;
    schedules::cancel(nats, &worker(w), "c-slow").await.unwrap();
    let started: HashSet<_> = firings(nats, w, "c-slow")
        .await
        .into_iter()
        .map(|(_, k)| k)
        .collect();
    let skipped = skips(nats, w, "c-slow").await;
    assert!(
        skipped.iter().all(|k| !started.contains(k)),
        "a skipped firing ran"
    );
    // Runs never overlap, and the skips happened while one ran: about 2 per 2.5 s run.
    let runs = firings(nats, w, "c-slow").await;
    for pair in runs.windows(2) {
        assert!(pair[1].0 >= pair[0].0 + 2_500, "runs overlapped: {runs:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_down_across_three_firings_gives_one_catch_up_and_a_late_one_off_is_skipped() {
    let mut env = Env::new(&[("counter", revenant_guests::COUNTER)]).await;
    let _exec = env.executor().await;
    let nats = env.nats.clone();
    let w = "counter/downtime";
    let every = When::cron("@every 2s", None).unwrap();
    schedules::put(&nats, &spec(w, "c-every2", every, "add", &json!([1])))
        .await
        .unwrap();
    wait_firings(&nats, w, "c-every2", 1).await;
    // Due at least a second after the server goes down (at once, below).
    let mut late = spec(
        w,
        "i-late",
        When::At(second_after(2_000)),
        "add",
        &json!([1_000]),
    );
    late.catchup_secs = Some(1);
    schedules::put(&nats, &late).await.unwrap();

    env.server.kill();
    // The scenario itself: the server stays down for three periods of the schedule.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let restarted = now_ms();
    env.server.restart();

    let before = firings(&nats, w, "c-every2").await;
    let after = wait_until("two firings after the restart", TIMEOUT, || async {
        let f = firings(&nats, w, "c-every2").await;
        let after: Vec<_> = f.into_iter().filter(|(at, _)| *at >= restarted).collect();
        (after.len() >= 2).then_some(after)
    })
    .await;
    // One catch-up, then the regular period: not three firings in a burst.
    assert!(
        after[1].0 >= after[0].0 + 1_000,
        "firings after the restart came in a burst: {after:?} (before: {before:?})"
    );
    // The one-off fell due while the server was down: fired late, skipped and recorded.
    let skipped = wait_until("the late one-off skipped", TIMEOUT, || async {
        let k = skips(&nats, w, "i-late").await;
        (!k.is_empty()).then_some(k)
    })
    .await;
    assert_eq!(skipped, vec![late.idempotency_key.clone().unwrap()]);
    assert!(firings(&nats, w, "i-late").await.is_empty());
    let last = wait_until("the skip recorded", TIMEOUT, || async {
        info(&nats, w, "i-late").await?.last_firing
    })
    .await;
    assert_eq!(last.outcome, FiringOutcome::Skipped);
    assert!(last.message.unwrap().contains("catch-up bound of 1s"));
    schedules::cancel(&nats, &worker(w), "c-every2")
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_schedules_and_evicting_limits_are_refused_saying_what_was_expected() {
    let env = Env::new(&[("counter", revenant_guests::COUNTER)]).await;
    let nats = &env.nats;
    let w = "counter/bad";
    let bad_field = spec(
        w,
        "c-bad",
        When::cron("61 * * * * *", None).unwrap(),
        "add",
        &json!([1]),
    );
    match schedules::put(nats, &bad_field).await {
        Err(Error::BadSchedule(m)) => assert!(m.contains("seconds 0-59"), "{m}"),
        other => panic!("{other:?}"),
    }
    let bad_zone = spec(
        w,
        "c-bad",
        When::cron("0 0 9 * * *", Some("Mars/Olympus")).unwrap(),
        "add",
        &json!([1]),
    );
    match schedules::put(nats, &bad_zone).await {
        Err(Error::BadSchedule(m)) => {
            assert!(m.contains("Mars/Olympus") && m.contains("IANA"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    let mut bad_id = spec(w, "x-1", When::At(now_ms()), "add", &json!([1]));
    match schedules::put(nats, &bad_id).await {
        Err(Error::BadSchedule(m)) => assert!(m.contains("i- (one-off)"), "{m}"),
        other => panic!("{other:?}"),
    }
    bad_id.id = "i-a.b".into();
    assert!(schedules::put(nats, &bad_id).await.is_err());

    // An operator caps RVN_INVOKE: provisioning refuses to go on, naming the fix.
    let js = nats.jetstream();
    let mut config = js
        .get_stream("RVN_INVOKE")
        .await
        .unwrap()
        .cached_info()
        .config
        .clone();
    config.max_messages = 10_000;
    js.update_stream(config).await.unwrap();
    match nats.provision().await {
        Err(e @ Error::EvictsSchedules { .. }) => {
            let m = e.to_string();
            assert!(
                m.contains("max_msgs = 10000") && m.contains("--max-msgs=-1"),
                "{m}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_python_client_schedules_an_invocation_by_publishing_a_holder() {
    let mut env = Env::new(&[("counter", revenant_guests::COUNTER)]).await;
    let _exec = env.executor().await;
    let nats = &env.nats;
    let w = "counter/py-sched";
    let at = second_after(2_000);
    let at_text = sched::rfc3339_second(at).unwrap();
    let lines = common::python_lines(
        "schedule.py",
        &[
            &env.server.url(),
            w,
            "i-from-python",
            &at_text,
            "add",
            "[3]",
        ],
    )
    .await;
    assert_eq!(lines[0]["stream"], "RVN_INVOKE", "{lines:?}");
    let fired = wait_firings(nats, w, "i-from-python", 1).await;
    assert!(fired[0].0 >= at, "fired before its time");
    assert_eq!(fired[0].1, format!("i-from-python@{at_text}"));
    assert_eq!(counter(nats, w).await, 3);
}
