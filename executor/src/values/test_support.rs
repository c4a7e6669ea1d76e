//! The test component of `revenant_components::fixtures` (built from WIT text,
//! every type family) compiled by wasmtime, to give `ComponentFunc` types.
//! Nothing here is ever instantiated.

use std::sync::OnceLock;

use revenant_components::fixtures::component_bytes;
use wasmtime::component::Component;
use wasmtime::component::types::ComponentFunc;
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
