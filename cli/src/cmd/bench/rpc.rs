//! Section `rpc`: worker-to-worker calls through the in-process executor. The round
//! trip of an invocation that makes one typed call (`fan-out` `square-of`, which
//! awaits `square` on another worker) beside a plain invocation of the same function
//! (`square` `square`) in the same run, sequentially; and a fan-out of `--fan-out`
//! async calls to as many workers (`sum-squares`), wall time, the first on new
//! workers and then on warm ones.

use std::time::{Duration, Instant};

use revenant_types::WorkerId;

use super::BenchArgs;
use super::env::{Env, deploy};
use super::report::{Report, median, ms, percentile};

pub const SECTION: &str = "rpc";

fn worker(component: &str, name: &str) -> WorkerId {
    WorkerId::parse(component, name).expect("bench worker names are valid")
}

pub async fn run(env: &Env, a: &BenchArgs, r: &mut Report) -> anyhow::Result<()> {
    const S: &str = SECTION;
    let (client, timeout) = (&env.client, Duration::from_secs(a.timeout_secs));
    deploy(&client.nats, "fan-out", revenant_examples::FAN_OUT).await?;
    deploy(&client.nats, "square", revenant_examples::SQUARE).await?;
    let (caller, plain) = (worker("fan-out", "rpc-lat"), worker("square", "rpc-plain"));
    eprintln!(
        "rpc: {} sequential invocations of square-of on {caller} (one typed call each) and of square on {plain}",
        a.rpc_calls
    );
    // Warm up both (compiles the components, creates the workers).
    for x in 0..20u32 {
        client
            .invoke_u64(&caller, "square-of", &format!("[{x}]"), timeout)
            .await?;
        client
            .invoke_u64(&plain, "square", &format!("[{x}]"), timeout)
            .await?;
    }
    let (mut rpc, mut direct) = (Vec::new(), Vec::new());
    for i in 0..a.rpc_calls {
        let x = (i % 60_000) as u32;
        // Interleaved, so that both see the same machine.
        for (w, f, samples) in [
            (&caller, "square-of", &mut rpc),
            (&plain, "square", &mut direct),
        ] {
            let (v, took) = client.invoke_u64(w, f, &format!("[{x}]"), timeout).await?;
            if v != u64::from(x) * u64::from(x) {
                r.fail(S, format!("{f}({x}) on {w} returned {v}"));
            }
            samples.push(took);
        }
    }
    let (p50, p99) = (ms(median(&rpc)), ms(percentile(&rpc, 99.0)));
    let (plain50, plain99) = (ms(median(&direct)), ms(percentile(&direct, 99.0)));
    r.row(S, "plain invocation p50", plain50, "ms");
    r.row(S, "plain invocation p99", plain99, "ms");
    let x = p50 / plain50.max(f64::MIN_POSITIVE);
    r.row(S, "with one call p50", p50, "ms")
        .compare(format!("{x:.2}× plain"))
        .target("≤ 2× plain", x <= 2.0);
    let x99 = p99 / plain99.max(f64::MIN_POSITIVE);
    r.row(S, "with one call p99", p99, "ms")
        .compare(format!("{x99:.2}× plain"));

    let n = a.fan_out;
    let expected: u64 = (0..u64::from(n)).map(|i| i * i).sum();
    eprintln!("rpc: fan-out of {n} async calls (sum-squares), new workers then warm ones");
    let mut walls = Vec::new();
    let fan = worker("fan-out", "rpc-fan");
    for run in 0..6 {
        let started = Instant::now();
        let (v, _) = client
            .invoke_u64(&fan, "sum-squares", &format!("[{n}]"), timeout)
            .await?;
        if v != expected {
            r.fail(
                S,
                format!("sum-squares({n}) returned {v}, expected {expected}"),
            );
        }
        let took = started.elapsed();
        if run == 0 {
            r.row(S, &format!("fan-out of {n}, new workers"), ms(took), "ms");
        } else {
            walls.push(took);
        }
    }
    r.row(
        S,
        &format!("fan-out of {n}, warm (median of 5)"),
        ms(median(&walls)),
        "ms",
    );
    Ok(())
}
