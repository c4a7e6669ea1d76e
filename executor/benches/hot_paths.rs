//! Criterion micro-benchmarks of the executor's pure hot paths, the parts
//! `revenant bench` cannot isolate: the JSON ↔ WIT value conversion every
//! invocation pays twice, the oplog codec (encode/decode of a batch, as every
//! commit and every recovery does), and the replay plan over a 10k-entry oplog.
//! No NATS, no instances. Run: `cargo bench -p revenant-executor --bench hot_paths`.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use revenant_executor::components::lookup_func_type;
use revenant_executor::replay;
use revenant_executor::values::{json_args_to_vals, results_to_json, val_to_json};
use revenant_types::codec::{self, OplogBatch};
use revenant_types::oplog::{Durability, HostValue, OplogEntry, OplogIndex};
use serde_json::json;
use wasmtime::component::Component;
use wasmtime::{Config, Engine};

fn values(c: &mut Criterion) {
    let engine = Engine::new(&Config::new()).expect("engine");
    let component =
        Component::from_file(&engine, revenant_guests::TEST_TYPES).expect("test-types compiles");
    let counter_add = {
        let counter =
            Component::from_file(&engine, revenant_guests::COUNTER).expect("counter compiles");
        lookup_func_type(&counter, "example:counter/api.{add}").expect("counter exports add")
    };
    let everything =
        lookup_func_type(&component, "test:types/api.{echo-everything}").expect("export");
    let big = json!([{
        "flag": true, "small": 7, "big-number": u64::MAX, "ratio": -0.5, "letter": "z",
        "name": "all", "maybe": 3, "tags": ["a", "b", "c", "d"], "origin": {"x": 0, "y": -3},
        "pair": [-8, "p"], "color": "blue", "shape": {"rect": {"x": 1, "y": 2}},
        "access": ["write", "execute"], "outcome": {"err": "no"}
    }]);
    let small = json!([5]);

    let mut g = c.benchmark_group("values");
    g.bench_function("json→val counter add(u64)", |b| {
        b.iter(|| json_args_to_vals(&counter_add, black_box(&small)).expect("fits"))
    });
    g.bench_function("json→val record of 14 fields", |b| {
        b.iter(|| json_args_to_vals(&everything, black_box(&big)).expect("fits"))
    });
    let vals = json_args_to_vals(&everything, &big).expect("fits");
    g.bench_function("val→json record of 14 fields", |b| {
        b.iter(|| val_to_json(black_box(&vals[0])))
    });
    // What the executor does per invocation: parse the body, type it, re-serialize the args.
    g.bench_function("invocation args round trip (counter add)", |b| {
        b.iter(|| {
            let v: serde_json::Value = serde_json::from_slice(black_box(b"[5]")).expect("json");
            let vals = json_args_to_vals(&counter_add, &v).expect("fits");
            let args = serde_json::Value::Array(vals.iter().map(val_to_json).collect()).to_string();
            let out = results_to_json(&vals).to_string();
            (args, out)
        })
    });
    g.finish();
}

/// What the executor writes for the `k`-th `add(1)` of a counter.
fn add_invocation(k: u64) -> [OplogEntry; 2] {
    revenant_nats::synthetic::add_invocation(
        "example:counter/api.{add}",
        "bench",
        k,
        1_700_000_000_000,
    )
}

fn clock_call(i: u64) -> OplogEntry {
    OplogEntry::HostCall {
        function: "wasi:clocks/monotonic-clock.now".into(),
        request: HostValue::Unit,
        response: HostValue::U64(1_000_000 + i),
        durability: Durability::ReadRemote,
    }
}

fn codec(c: &mut Criterion) {
    let mut g = c.benchmark_group("oplog codec");
    let invocation = OplogBatch {
        first: 1,
        entries: add_invocation(0).to_vec(),
    };
    let clocks = OplogBatch {
        first: 1,
        entries: (0..1000).map(clock_call).collect(),
    };
    for (name, batch) in [
        ("one add invocation (2 entries)", &invocation),
        ("1000 clock host calls", &clocks),
    ] {
        g.bench_function(format!("encode {name}"), |b| {
            b.iter(|| codec::encode(black_box(batch)).expect("encodes"))
        });
        let bytes = codec::encode(batch).expect("encodes");
        g.bench_function(format!("decode {name}"), |b| {
            b.iter(|| codec::decode::<OplogBatch>(black_box(&bytes)).expect("decodes"))
        });
    }
    g.finish();
}

fn replay_plan(c: &mut Criterion) {
    let mut entries: Vec<(OplogIndex, OplogEntry)> = vec![(
        1,
        OplogEntry::Create {
            at: 0,
            component_version: 1,
            args: vec![],
            env: vec![],
        },
    )];
    // 10k entries: add invocations, every tenth with three clock reads.
    let mut k = 0;
    while entries.len() < 10_000 {
        let [start, done] = add_invocation(k);
        entries.push((entries.len() as u64 + 1, start));
        if k % 10 == 0 {
            for i in 0..3 {
                entries.push((entries.len() as u64 + 1, clock_call(i)));
            }
        }
        entries.push((entries.len() as u64 + 1, done));
        k += 1;
    }
    c.bench_function("replay::plan 10k entries", |b| {
        b.iter_batched(
            || entries.clone(),
            |e| replay::plan(black_box(e)),
            BatchSize::LargeInput,
        )
    });
}

criterion_group!(benches, values, codec, replay_plan);
criterion_main!(benches);
