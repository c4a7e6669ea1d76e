//! Measures reading a 10-entry and a 10,000-entry oplog with each [`ReadStrategy`] (median of
//! several runs, alternating, after a warm-up). Ignored by default; run with
//! `cargo test -p revenant-tests --test all oplog_speed -- --ignored --nocapture`.

use std::time::{Duration, Instant};

use revenant_nats::revenant_types::codec::OplogBatch;
use revenant_nats::revenant_types::names::WorkerId;
use revenant_nats::revenant_types::oplog::OplogEntry;
use revenant_nats::{Nats, ReadStrategy};
use revenant_tests::NatsServer;

const N: u64 = 10_000;
const RUNS: usize = 7;

#[tokio::test]
#[ignore = "measurement; run explicitly"]
async fn oplog_read_speed() {
    let server = NatsServer::start();
    let nats = Nats::connect(&server.options()).await.unwrap();
    nats.provision().await.unwrap();
    let store = nats.oplog();
    for (name, n, per_message) in [
        ("tiny", 10u64, 1u64),
        ("single", N, 1),
        ("batch-10", N, 10),
        ("batch-100", N, 100),
    ] {
        let w = WorkerId::parse("speed", name).unwrap();
        let (mut last, mut next) = (0, 1);
        while next <= n {
            let entries = (next..next + per_message)
                .map(|i| OplogEntry::Log {
                    at: i,
                    stream: "stdout".into(),
                    message: format!("line {i} of the speed test"),
                })
                .collect();
            last = store
                .append(
                    &w,
                    last,
                    &OplogBatch {
                        first: next,
                        entries,
                    },
                )
                .await
                .unwrap();
            next += per_message;
        }
        let mut times: [Vec<Duration>; 3] = Default::default();
        let strategies = [
            ReadStrategy::Auto,
            ReadStrategy::BatchDirectGet,
            ReadStrategy::PullConsumer,
        ];
        for run in 0..=RUNS {
            for (k, strategy) in strategies.into_iter().enumerate() {
                let t = Instant::now();
                let read = store.read_with(&w, 1, strategy).await.unwrap();
                let took = t.elapsed();
                assert_eq!(read.entries.len() as u64, n);
                if run > 0 {
                    times[k].push(took);
                }
            }
        }
        for (k, strategy) in strategies.into_iter().enumerate() {
            times[k].sort();
            println!(
                "{name:>9} ({} msgs): {strategy:?} median {:?} (min {:?})",
                n / per_message,
                times[k][RUNS / 2],
                times[k][0]
            );
        }
    }
}
