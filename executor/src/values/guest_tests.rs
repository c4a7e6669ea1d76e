//! End-to-end against the example guests (`revenant-guests`): JSON/WAVE →
//! `Val` → the `test-types` guest, whose functions echo their arguments →
//! `Val` → JSON/WAVE, which must give back the input. (The export metadata of
//! real components is tested in `revenant-components`.)

use std::sync::OnceLock;

use serde_json::{Value, json};
use wasmtime::component::{Component, Linker, Val};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{ResourceTable, WasiCtx, WasiCtxView, WasiView};

use super::*;
use crate::exports::lookup_func;

struct Host {
    ctx: WasiCtx,
    table: ResourceTable,
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

fn test_types() -> &'static (Engine, Component, Linker<Host>) {
    static GUEST: OnceLock<(Engine, Component, Linker<Host>)> = OnceLock::new();
    GUEST.get_or_init(|| {
        let engine = Engine::new(&Config::new()).expect("engine");
        let component = Component::from_file(&engine, revenant_guests::TEST_TYPES)
            .expect("test-types compiles");
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).expect("WASI links");
        (engine, component, linker)
    })
}

enum Args<'a> {
    Json(&'a Value),
    Wave(&'a str),
}

/// Calls `test:types/api.{func}` on a fresh instance.
fn call(func: &str, args: &Args<'_>) -> Vec<Val> {
    let (engine, component, linker) = test_types();
    let host = Host {
        ctx: WasiCtx::builder().build(),
        table: ResourceTable::new(),
    };
    let mut store = Store::new(engine, host);
    let instance = linker
        .instantiate(&mut store, component)
        .expect("instantiates");
    let index =
        lookup_func(component, &format!("test:types/api.{{{func}}}")).expect("export exists");
    let f = instance.get_func(&mut store, index).expect("is a function");
    let ty = f.ty(&store);
    let params = match args {
        Args::Json(json) => json_args_to_vals(&ty, json),
        Args::Wave(text) => wave_args_to_vals(&ty, text),
    }
    .unwrap_or_else(|e| panic!("{func}: {e}"));
    let mut results = vec![Val::Bool(false); ty.results().len()];
    f.call(&mut store, &params, &mut results)
        .expect("call succeeds");
    results
}

/// The guest echoes its single argument: JSON in = JSON out.
fn echo_json(func: &str, value: &Value) {
    let results = call(func, &Args::Json(&json!([value])));
    assert_eq!(&results_to_json(&results), value, "{func}");
}

/// Same through WAVE text.
fn echo_wave(func: &str, text: &str) {
    assert_eq!(
        results_to_wave(&call(func, &Args::Wave(text))),
        text,
        "{func}"
    );
}

#[test]
fn guest_echoes_json_of_every_type() {
    echo_json("echo-bool", &json!(true));
    echo_json("echo-u8", &json!(255));
    echo_json("echo-u16", &json!(65535));
    echo_json("echo-u32", &json!(4_294_967_295u32));
    echo_json("echo-u64", &json!(u64::MAX));
    echo_json("echo-s8", &json!(-128));
    echo_json("echo-s16", &json!(-32768));
    echo_json("echo-s32", &json!(i32::MIN));
    echo_json("echo-s64", &json!(i64::MIN));
    echo_json("echo-f32", &json!(3.25));
    echo_json("echo-f32", &json!("-Infinity"));
    echo_json("echo-f64", &json!(0.1));
    echo_json("echo-f64", &json!("NaN"));
    echo_json("echo-char", &json!("ж"));
    echo_json("echo-string", &json!("héllo\n\"x\""));
    echo_json("echo-record", &json!({"x": -1, "y": 2}));
    for shape in [
        json!("empty"),
        json!({"circle": 1.5}),
        json!({"rect": {"x": 1, "y": 2}}),
        json!({"named": "n"}),
    ] {
        echo_json("echo-variant", &shape);
    }
    echo_json("echo-enum", &json!("light-gray"));
    echo_json("echo-flags", &json!(["read", "admin-only"]));
    echo_json("echo-flags", &json!([]));
    for o in [json!(null), json!("s")] {
        echo_json("echo-option", &o);
    }
    for o in [json!(null), json!({"some": null}), json!({"some": 7})] {
        echo_json("echo-nested-option", &o);
    }
    echo_json("echo-result", &json!({"ok": 1}));
    echo_json("echo-result", &json!({"err": "e"}));
    echo_json("echo-result-unit-ok", &json!({"ok": null}));
    echo_json("echo-result-unit-err", &json!({"err": null}));
    echo_json("echo-result-empty", &json!({"ok": null}));
    echo_json("echo-list", &json!([1, 2, 3]));
    echo_json("echo-bytes", &json!([0, 128, 255]));
    echo_json(
        "echo-list-records",
        &json!([{"x": 1, "y": 2}, {"x": 3, "y": 4}]),
    );
    echo_json("echo-nested-list", &json!([["a"], [], ["b", "c"]]));
    echo_json("echo-tuple", &json!([1, "two", 3.5]));
    echo_json(
        "echo-everything",
        &json!({
            "flag": true, "small": 7, "big-number": u64::MAX, "ratio": -0.5, "letter": "z",
            "name": "all", "maybe": null, "tags": ["a", "b"], "origin": {"x": 0, "y": -3},
            "pair": [-8, "p"], "color": "blue", "shape": {"named": "s"},
            "access": ["write", "execute"], "outcome": {"err": "no"}
        }),
    );
    let many = call(
        "echo-many",
        &Args::Json(&json!({"a": false, "b": -5, "c": "c", "e": ["empty"]})),
    );
    assert_eq!(
        results_to_json(&many),
        json!([false, -5, "c", null, ["empty"]])
    );
    assert!(call("noop", &Args::Json(&json!([]))).is_empty());
}

#[test]
fn guest_echoes_wave() {
    echo_wave("echo-u64", "18446744073709551615");
    echo_wave("echo-string", r#""a \"quoted\" string""#);
    echo_wave("echo-variant", "rect({x: 1, y: 2})");
    echo_wave("echo-flags", "{read, admin-only}");
    echo_wave("echo-nested-option", "some(none)");
    echo_wave("echo-result-unit-ok", "ok");
    echo_wave("echo-tuple", r#"(1, "two", 3.5)"#);
    let many = call(
        "echo-many",
        &Args::Wave(r#"true, -5, "c", some(light-gray), [empty, circle(2)]"#),
    );
    assert_eq!(
        results_to_wave(&many),
        r#"(true, -5, "c", some(light-gray), [empty, circle(2)])"#
    );
}
