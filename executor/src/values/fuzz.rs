//! Property tests (proptest) of the JSON and WAVE value mapping against every
//! type family of the fixture component: whatever JSON or text arrives, typing
//! it never panics and answers a [`ValueError`]; whatever it accepts goes back to
//! JSON and WAVE and types again to the same value.

use proptest::prelude::*;
use serde_json::Value;

use super::test_support::{func_type, sorted_flags};
use super::*;

/// Every fixture function, one per type family.
const FUNCTIONS: [&str; 10] = [
    "add", "add-item", "ints", "floats", "text", "shapes", "nested", "opts", "bytes", "noop",
];

/// Any JSON value, a few levels deep, with the strings and numbers the mapping cares about.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop_oneof![
            Just("NaN".to_owned()),
            Just("-Infinity".to_owned()),
            Just("green".to_owned()),
            Just("read".to_owned()),
            Just("circle".to_owned()),
            ".{0,12}",
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("ok".to_owned()),
                    Just("err".to_owned()),
                    Just("some".to_owned()),
                    Just("rect".to_owned()),
                    Just("required".to_owned()),
                    Just("name".to_owned()),
                    "[a-z-]{1,10}",
                ],
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// NaN is not equal to itself: compare through the JSON form, which spells it.
fn same(a: &[wasmtime::component::Val], b: &[wasmtime::component::Val]) -> bool {
    let j = |v: &[wasmtime::component::Val]| v.iter().map(val_to_json).collect::<Vec<_>>();
    j(a) == j(b)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_json_is_typed_or_refused_and_what_is_typed_round_trips(
        f in prop::sample::select(&FUNCTIONS[..]),
        args in prop_oneof![prop::collection::vec(any_json(), 0..4).prop_map(Value::Array), any_json()],
    ) {
        let ty = func_type(f);
        if let Ok(vals) = json_args_to_vals(&ty, &args) {
            let back = Value::Array(vals.iter().map(val_to_json).collect());
            let again = json_args_to_vals(&ty, &back).expect("its own JSON types again");
            prop_assert!(same(&vals, &again), "{f}: {args} -> {back}");
            let wave = vals.iter().map(val_to_wave).collect::<Vec<_>>().join(", ");
            let from_wave = wave_args_to_vals(&ty, &wave).expect("its own WAVE types again");
            prop_assert!(same(&sorted_flags(vals), &sorted_flags(from_wave)), "{f}: `{wave}`");
        }
    }

    #[test]
    fn any_text_as_wave_is_typed_or_refused(
        f in prop::sample::select(&FUNCTIONS[..]),
        text in prop_oneof![
            ".{0,40}",
            "[-0-9a-z(){}\\[\\], \"'.:%]{0,40}",
        ],
    ) {
        let ty = func_type(f);
        if let Ok(vals) = wave_args_to_vals(&ty, &text) {
            let wave = vals.iter().map(val_to_wave).collect::<Vec<_>>().join(", ");
            let again = wave_args_to_vals(&ty, &wave).expect("its own WAVE types again");
            prop_assert!(same(&sorted_flags(vals), &sorted_flags(again)), "{f}: `{text}` -> `{wave}`");
        }
    }
}
