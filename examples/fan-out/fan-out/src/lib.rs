//! `fan-out` — `sum-squares(n)` calls `n` workers of `square` at once with async typed
//! RPC calls (`square-async`), waits for all of their pollables together, and sums the
//! results. The calls, their readiness and their results are journaled: a replay
//! sends nothing again and sees the same results.

wit_bindgen::generate!({
    path: "wit",
    world: "fan-out",
    with: {
        "wasi:io/poll@0.2.12": wasip2::io::poll,
        "revenant:api/rpc@0.2.0": revenant_sdk::rpc::bindings,
    },
    generate_all,
});

use example::square_client::api as square;
use exports::example::fan_out::api::Guest;

struct FanOut;

impl Guest for FanOut {
    fn sum_squares(n: u32) -> u64 {
        let me = revenant_sdk::self_id().worker;
        let futures: Vec<square::FutureSquareResult> = (0..n)
            .map(|i| square::Api::new(&format!("{me}-{i}")).square_async(i))
            .collect();
        let pollables: Vec<wasip2::io::poll::Pollable> =
            futures.iter().map(square::FutureSquareResult::subscribe).collect();
        let mut pending: Vec<usize> = (0..pollables.len()).collect();
        while !pending.is_empty() {
            let waiting: Vec<&wasip2::io::poll::Pollable> =
                pending.iter().map(|&i| &pollables[i]).collect();
            let ready = wasip2::io::poll::poll(&waiting);
            let ready: Vec<usize> = ready.iter().map(|&r| pending[r as usize]).collect();
            pending.retain(|i| !ready.contains(i));
        }
        futures
            .iter()
            .map(|f| match f.get() {
                Some(Ok(square)) => square,
                Some(Err(e)) => panic!("a square failed: {e:?}"),
                None => panic!("a ready future has its result"),
            })
            .sum()
    }

    fn square_of(x: u32) -> u64 {
        let me = revenant_sdk::self_id().worker;
        square::Api::new(&format!("{me}-sq"))
            .square(x)
            .unwrap_or_else(|e| panic!("the square failed: {e:?}"))
    }
}

export!(FanOut);
