//! `square` — one unit of work of the `fan-out` example: `fan-out` calls `n` workers of
//! this component at once with `-async` calls and joins their results.

wit_bindgen::generate!({ path: "wit", world: "square" });

use exports::example::square::api::Guest;

struct Square;

impl Guest for Square {
    fn square(x: u32) -> u64 {
        u64::from(x) * u64::from(x)
    }
}

export!(Square);
