//! `json-sum` — a stateless example: parses a JSON array of integers (with
//! serde_json, inside the guest) and returns the sum, or an error message.
//!
//! Build (from `examples/`): `cargo build --target wasm32-wasip2 --release`,
//! producing `target/wasm32-wasip2/release/json_sum.wasm`.
//!
//! Deploy and call (CLI, or plain NATS request/reply with a JSON argument array):
//!
//! ```text
//! revenant component add json-sum target/wasm32-wasip2/release/json_sum.wasm
//! nats request rvn.call.json-sum.w1 -H 'Rvn-Function: sum' '["[1, 2, 3]"]'   # => ok: 6
//! nats request rvn.call.json-sum.w1 -H 'Rvn-Function: sum' '["[1, 2.5]"]'
//!   # => err: "element 1 is not an integer in s64 range: 2.5"
//! ```
//!
//! Prints nothing. Exports `example:json-sum/api.{sum}`; imports only WASI 0.2
//! (what std itself needs).

use serde_json::Value;

wit_bindgen::generate!({ path: "wit", world: "json-sum" });

use exports::example::json_sum::api::Guest;

/// Sums a JSON array of integers; the error says what was expected and what was found.
fn sum_json(json: &str) -> Result<i64, String> {
    let value: Value = serde_json::from_str(json).map_err(|e| format!("invalid JSON: {e}"))?;
    let Value::Array(elements) = value else {
        return Err(format!("expected a JSON array of integers, got {value}"));
    };
    elements
        .iter()
        .enumerate()
        .try_fold(0i64, |sum, (i, element)| {
            let n = element
                .as_i64()
                .ok_or_else(|| format!("element {i} is not an integer in s64 range: {element}"))?;
            sum.checked_add(n)
                .ok_or_else(|| format!("sum overflows s64 at element {i}"))
        })
}

struct JsonSum;

impl Guest for JsonSum {
    fn sum(json: String) -> Result<i64, String> {
        sum_json(&json)
    }
}

export!(JsonSum);

#[cfg(test)]
mod tests {
    use super::sum_json;

    #[test]
    fn sums_and_reports_errors() {
        assert_eq!(sum_json("[1, 2, 3]"), Ok(6));
        assert_eq!(sum_json("[]"), Ok(0));
        assert_eq!(sum_json("[-5, 5]"), Ok(0));
        assert!(sum_json("[1,").unwrap_err().starts_with("invalid JSON"));
        assert!(
            sum_json("{}")
                .unwrap_err()
                .starts_with("expected a JSON array")
        );
        assert!(sum_json("[1, 2.5]").unwrap_err().contains("element 1"));
        assert!(sum_json("[\"1\"]").unwrap_err().contains("element 0"));
        assert!(
            sum_json(&format!("[{}, 1]", i64::MAX))
                .unwrap_err()
                .contains("overflows")
        );
    }
}
