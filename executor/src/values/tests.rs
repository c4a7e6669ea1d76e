//! JSON and WAVE mapping tests against the types of a real (dummy) component.

use serde_json::{Value, json};
use wasmtime::component::Val;

use super::test_support::{func_type, sorted_flags};
use super::*;

fn args(func: &str, json: &Value) -> Result<Vec<Val>, ValueError> {
    json_args_to_vals(&func_type(func), json)
}

/// JSON → Val → JSON must give back the input, for every parameter of `func`.
fn round_trip(func: &str, json: &Value) -> Vec<Val> {
    let vals = args(func, json).unwrap_or_else(|e| panic!("{func}: {e}"));
    let back = Value::Array(vals.iter().map(val_to_json).collect());
    assert_eq!(&back, json, "{func} round trip");
    // WAVE round trip too: Val → WAVE → Val.
    let wave = vals.iter().map(val_to_wave).collect::<Vec<_>>().join(", ");
    let again = wave_args_to_vals(&func_type(func), &wave)
        .unwrap_or_else(|e| panic!("{func} `{wave}`: {e}"));
    assert_eq!(
        sorted_flags(again),
        sorted_flags(vals.clone()),
        "{func} WAVE round trip via `{wave}`"
    );
    vals
}

#[test]
fn round_trips_every_type_family() {
    round_trip("add", &json!([18446744073709551615u64]));
    round_trip(
        "add-item",
        &json!([{"product-id": "p1", "name": "Mug", "price": 9.99, "quantity": 2}]),
    );
    round_trip(
        "ints",
        &json!([{"a": -128, "b": 255, "c": -32768, "d": 65535, "e": -2147483648i64, "f": 4294967295u64,
                "g": -9223372036854775808i64, "h": 18446744073709551615u64}]),
    );
    round_trip("floats", &json!([0.1, 1e300]));
    round_trip("floats", &json!(["NaN", "-Infinity"]));
    round_trip("text", &json!(["🦀", "hello \"world\"\n"]));
    round_trip(
        "shapes",
        &json!([{"circle": 1.5}, "green", ["read", "exec"]]),
    );
    round_trip("shapes", &json!([{"rect": [3, 4]}, "red", []]));
    round_trip("shapes", &json!(["empty", "blue", ["write"]]));
    round_trip("nested", &json!([null, {"ok": 7}, {"ok": null}]));
    round_trip(
        "nested",
        &json!([{"some": null}, {"err": "bad"}, {"err": null}]),
    );
    round_trip("nested", &json!([{"some": 5}, {"ok": 0}, {"ok": null}]));
    round_trip("opts", &json!([{"required": "x", "maybe": 3}, "e"]));
    round_trip("opts", &json!([{"required": "x", "maybe": null}, null]));
    round_trip("bytes", &json!([[0, 1, 255]]));
    round_trip("noop", &json!([]));
}

#[test]
fn values_are_typed() {
    let vals = round_trip("shapes", &json!([{"rect": [3, 4]}, "red", ["read"]]));
    assert_eq!(
        vals,
        vec![
            Val::Variant(
                "rect".into(),
                Some(Box::new(Val::Tuple(vec![Val::U32(3), Val::U32(4)])))
            ),
            Val::Enum("red".into()),
            Val::Flags(vec!["read".into()]),
        ]
    );
    let vals = round_trip("nested", &json!([{"some": null}, {"ok": 1}, {"ok": null}]));
    assert_eq!(vals[0], Val::Option(Some(Box::new(Val::Option(None)))));
    assert_eq!(vals[2], Val::Result(Ok(None)));
}

#[test]
fn object_arguments_by_name_and_omitted_options() {
    let by_name = args("opts", &json!({"o": {"required": "x"}})).unwrap();
    let by_pos = args("opts", &json!([{"required": "x", "maybe": null}, null])).unwrap();
    assert_eq!(by_name, by_pos);
    assert!(matches!(
        args("opts", &json!({"extra": "e"})),
        Err(ValueError::Missing { name, .. }) if name == "o"
    ));
    assert!(matches!(
        args("opts", &json!({"o": {"required": "x"}, "bogus": 1})),
        Err(ValueError::Unknown { name, .. }) if name == "bogus"
    ));
    assert_eq!(args("noop", &Value::Null).unwrap(), vec![]);
}

#[test]
fn arity_is_checked_with_the_signature() {
    let err = args("floats", &json!([1.0])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "expected 2 arguments (a: f32, b: f64), got 1"
    );
    let err = args("add", &json!([])).unwrap_err();
    assert_eq!(err.to_string(), "expected 1 argument (value: u64), got 0");
    assert!(matches!(
        args("add", &json!("5")),
        Err(ValueError::Mismatch { .. })
    ));
}

#[test]
fn errors_name_the_path() {
    let err = args(
        "add-item",
        &json!([{"product-id": "p", "name": "n", "price": "abc", "quantity": 1}]),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"argument 1 (item) .price: expected f32, got string "abc""#
    );

    let err = args(
        "ints",
        &json!([{"a": 1, "b": 256, "c": 0, "d": 0, "e": 0, "f": 0, "g": 0, "h": 0}]),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "argument 1 (v) .b: expected u8, got number 256, out of range"
    );
    let err = args(
        "ints",
        &json!([{"a": 1, "b": 2, "c": 0, "d": 0, "e": 0, "f": -1, "g": 0, "h": 0}]),
    )
    .unwrap_err();
    assert!(
        matches!(&err, ValueError::Mismatch { path, .. } if path == "argument 1 (v) .f"),
        "{err}"
    );
    let err = args(
        "ints",
        &json!([{"a": 1.5, "b": 2, "c": 0, "d": 0, "e": 0, "f": 0, "g": 0, "h": 0}]),
    )
    .unwrap_err();
    assert!(
        matches!(&err, ValueError::Mismatch { got, .. } if got == "number 1.5"),
        "{err}"
    );

    let err = args(
        "add-item",
        &json!([{"name": "n", "price": 1, "quantity": 1}]),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "argument 1 (item): missing `product-id` (expected string)"
    );

    let err = args("shapes", &json!([{"rect": [3, "x"]}, "red", []])).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"argument 1 (s) .rect[1]: expected u32, got string "x""#
    );
    let err = args("shapes", &json!(["circle", "red", []])).unwrap_err();
    assert!(
        matches!(&err, ValueError::Mismatch { expected, .. } if expected == r#"{"circle": <f64>}"#),
        "{err}"
    );
    let err = args("shapes", &json!(["empty", "purple", []])).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("argument 2 (c): expected enum {red, green, blue}"),
        "{err}"
    );
    let err = args("shapes", &json!(["empty", "red", ["read", "fly"]])).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"argument 3 (p) [1]: expected one of read, write, exec, got string "fly""#
    );

    let err = args("text", &json!(["ab", "s"])).unwrap_err();
    assert!(
        err.to_string().starts_with("argument 1 (c): expected char"),
        "{err}"
    );
    let err = args("floats", &json!([1e39, 0])).unwrap_err();
    assert!(err.to_string().contains("out of range"), "{err}");
    let err = args("nested", &json!([5, {"ok": 1}, {"ok": null}])).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("argument 1 (o): expected null or {\"some\""),
        "{err}"
    );
    let err = args("nested", &json!([null, {"ok": 1}, {"ok": 3}])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "argument 3 (r2) .ok: expected null (no payload), got number 3"
    );
    let err = args("nested", &json!([null, {"maybe": 1}, {"ok": null}])).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("argument 2 (r): expected {\"ok\": …} or {\"err\": …}"),
        "{err}"
    );
}

#[test]
fn resources_are_refused() {
    let err = args("peek", &json!([1])).unwrap_err();
    assert_eq!(
        err,
        ValueError::Unsupported {
            path: "argument 1 (c)".into(),
            what: "resources".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "argument 1 (c): resources can't be passed as JSON"
    );
}

#[test]
fn results_json_shapes() {
    assert_eq!(results_to_json(&[]), Value::Null);
    assert_eq!(results_to_json(&[Val::U64(3)]), json!(3));
    assert_eq!(val_to_json(&Val::Float32(0.1)), json!(0.1));
    assert_eq!(val_to_json(&Val::Float64(f64::INFINITY)), json!("Infinity"));
    let r = Val::Result(Err(Some(Box::new(Val::String("no".into())))));
    assert_eq!(val_to_json(&r), json!({"err": "no"}));
    let m = Val::Map(vec![(Val::String("k".into()), Val::U8(1))]);
    assert_eq!(val_to_json(&m), json!({"k": 1}));
    let m = Val::Map(vec![(Val::U8(1), Val::Bool(true))]);
    assert_eq!(val_to_json(&m), json!([[1, true]]));
}

#[test]
fn wave_arguments() {
    let ty = func_type("add-item");
    let vals = wave_args_to_vals(
        &ty,
        r#"{product-id: "p1", name: "Mug", price: 9.5, quantity: 2}"#,
    )
    .unwrap();
    assert_eq!(
        val_to_json(&vals[0]),
        json!({"product-id": "p1", "name": "Mug", "price": 9.5, "quantity": 2})
    );
    let vals =
        wave_args_to_vals(&func_type("shapes"), "rect((3, 4)), green, {read, exec}").unwrap();
    assert_eq!(val_to_wave(&vals[0]), "rect((3, 4))");
    assert_eq!(
        val_to_wave(&vals[2]),
        "{exec, read}",
        "wasm-wave orders flags by name"
    );
    // JSON input puts flags in declaration order, like values lifted from a guest.
    let vals = args("shapes", &json!(["empty", "red", ["exec", "read", "exec"]])).unwrap();
    assert_eq!(vals[2], Val::Flags(vec!["read".into(), "exec".into()]));
    // Trailing options may be omitted.
    let vals = wave_args_to_vals(&func_type("opts"), r#"{required: "x"}"#).unwrap();
    assert_eq!(vals[1], Val::Option(None));
    assert_eq!(wave_args_to_vals(&func_type("noop"), "").unwrap(), vec![]);
    assert_eq!(wave_args_to_vals(&func_type("noop"), "  ").unwrap(), vec![]);
    assert_eq!(results_to_wave(&[Val::String("hi".into())]), r#""hi""#);
    assert_eq!(results_to_wave(&[]), "");
}

#[test]
fn wave_errors_point_at_the_text() {
    let err = wave_args_to_vals(&func_type("floats"), "1.0").unwrap_err();
    let ValueError::Wave { signature, message } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(signature, "a: f32, b: f64");
    assert!(message.contains("missing required param"), "{message}");
    let err = wave_args_to_vals(&func_type("add"), r#""five""#).unwrap_err();
    assert!(err.to_string().contains("`\"five\"`"), "{err}");
    let err = wave_args_to_vals(&func_type("add"), "1, 2").unwrap_err();
    assert!(err.to_string().contains("more param"), "{err}");
    let err = wave_to_val(&func_type("add").params().next().unwrap().1, "x").unwrap_err();
    assert!(matches!(err, ValueError::Wave { .. }));
}
