//! The test component of `revenant_components::fixtures` (built from WIT text,
//! every type family) compiled by wasmtime, to give `ComponentFunc` types.
//! Nothing here is ever instantiated.

use std::sync::OnceLock;

use revenant_components::fixtures::component_bytes;
use wasmtime::component::types::ComponentFunc;
use wasmtime::component::{Component, Val};
use wasmtime::{Config, Engine};

/// The `guest` world compiled once by wasmtime.
pub(crate) fn guest_component() -> &'static Component {
    static COMPONENT: OnceLock<Component> = OnceLock::new();
    COMPONENT.get_or_init(|| {
        let engine = Engine::new(&Config::new()).expect("engine");
        Component::new(&engine, component_bytes("guest")).expect("component compiles")
    })
}

/// The type of `example:types/api@0.1.0.{name}` (or a world-level function if
/// `name` has no interface part).
pub(crate) fn func_type(name: &str) -> ComponentFunc {
    let full = if name.contains('.') {
        name.to_owned()
    } else {
        format!("example:types/api@0.1.0.{{{name}}}")
    };
    crate::exports::lookup_func_type(guest_component(), &full)
        .unwrap_or_else(|| panic!("no export {full}"))
}

/// wasm-wave builds flags in name order, JSON input in declaration order; both lower the same.
pub(crate) fn sorted_flags(vals: Vec<Val>) -> Vec<Val> {
    fn sort(val: Val) -> Val {
        let boxed = |v: Option<Box<Val>>| v.map(|v| Box::new(sort(*v)));
        match val {
            Val::Flags(mut names) => {
                names.sort();
                Val::Flags(names)
            }
            Val::List(items) => Val::List(items.into_iter().map(sort).collect()),
            Val::Tuple(items) => Val::Tuple(items.into_iter().map(sort).collect()),
            Val::Record(fields) => {
                Val::Record(fields.into_iter().map(|(k, v)| (k, sort(v))).collect())
            }
            Val::Variant(case, payload) => Val::Variant(case, boxed(payload)),
            Val::Option(inner) => Val::Option(boxed(inner)),
            Val::Result(Ok(v)) => Val::Result(Ok(boxed(v))),
            Val::Result(Err(v)) => Val::Result(Err(boxed(v))),
            other => other,
        }
    }
    vals.into_iter().map(sort).collect()
}
