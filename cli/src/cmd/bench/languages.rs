//! Section `languages`: the same counter in Rust, Python (componentize-py) and
//! TypeScript (componentize-js), side by side in one run through the in-process
//! executor. Per language: the first call after upload (compiles the component),
//! a new worker's first call (cold start, the component already compiled), warm
//! `add` p50, journal entries per invocation (from the worker's oplog), and the
//! replay rate — the warm worker's journal copied to a fresh worker, whose first
//! call replays every invocation (its total is checked).

use std::time::{Duration, Instant};

use revenant_types::WorkerId;
use revenant_types::codec::OplogBatch;

use super::BenchArgs;
use super::env::{Env, deploy};
use super::report::{Report, median, ms};

const S: &str = "languages";
/// Sequential warm invocations per language (also the journal that is replayed).
const WARM: usize = 200;
/// New workers per language for the cold start.
const COLD: usize = 10;

pub async fn run(env: &Env, a: &BenchArgs, r: &mut Report) -> anyhow::Result<()> {
    let (client, timeout) = (&env.client, Duration::from_secs(a.timeout_secs.max(120)));
    let languages = [
        ("rust", "counter", revenant_examples::COUNTER),
        ("python", "py-counter", revenant_examples::PY_COUNTER),
        ("ts", "ts-counter", revenant_examples::TS_COUNTER),
    ];
    for (lang, component, path) in languages {
        let record = deploy(&client.nats, component, path).await?;
        let w =
            |name: &str| WorkerId::parse(component, name).expect("bench worker names are valid");
        eprintln!("languages: {lang} ({component}, {} bytes)", record.size);
        let run = uuid::Uuid::new_v4().simple().to_string();

        let (_, first) = client
            .invoke_u64(&w(&format!("first-{run}")), "get", "[]", timeout)
            .await?;
        r.row(
            S,
            &format!("{lang}: first call after upload"),
            ms(first),
            "ms",
        )
        .compare(format!("{:.1} MB", record.size as f64 / 1e6));
        let mut cold = Vec::new();
        for i in 0..COLD {
            let (_, took) = client
                .invoke_u64(&w(&format!("cold-{run}-{i}")), "get", "[]", timeout)
                .await?;
            cold.push(took);
        }
        r.row(
            S,
            &format!("{lang}: cold start (new worker) p50"),
            ms(median(&cold)),
            "ms",
        )
        .target("< 50 ms", median(&cold) < Duration::from_millis(50));

        let warm_worker = w(&format!("warm-{run}"));
        let mut warm = Vec::new();
        for i in 0..WARM {
            let (v, took) = client
                .invoke_u64(&warm_worker, "add", "[1]", timeout)
                .await?;
            if v != i as u64 + 1 {
                r.fail(S, format!("{lang}: add(1) number {} returned {v}", i + 1));
            }
            warm.push(took);
        }
        r.row(S, &format!("{lang}: warm add p50"), ms(median(&warm)), "ms");

        let journal = client.nats.oplog().read(&warm_worker, 1).await?;
        let per = journal.entries.len().saturating_sub(1) as f64 / WARM as f64;
        r.row(
            S,
            &format!("{lang}: journal entries per invocation"),
            per,
            "entries",
        )
        .compare("2 = start + completion, no host calls");

        // The same journal under a fresh name: its first call replays all of it.
        let copy = w(&format!("replay-{run}"));
        let entries: Vec<_> = journal.entries.into_iter().map(|(_, e)| e).collect();
        let (mut next, mut last_seq) = (1u64, 0u64);
        for chunk in entries.chunks(500) {
            let batch = OplogBatch {
                first: next,
                entries: chunk.to_vec(),
            };
            last_seq = client.nats.oplog().append(&copy, last_seq, &batch).await?;
            next += chunk.len() as u64;
        }
        let started = Instant::now();
        let (v, _) = client.invoke_u64(&copy, "get", "[]", timeout).await?;
        let replay = started.elapsed();
        let (_, warm_get) = client.invoke_u64(&copy, "get", "[]", timeout).await?;
        if v != WARM as u64 {
            r.fail(
                S,
                format!("{lang}: the replayed copy's total is {v}, expected {WARM}"),
            );
        }
        let rate = WARM as f64 / replay.saturating_sub(warm_get).as_secs_f64().max(1e-6);
        r.row(
            S,
            &format!("{lang}: replay rate"),
            rate.round(),
            "invocations/s",
        );
    }
    Ok(())
}
