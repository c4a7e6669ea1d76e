//! Finding a component's exported functions by their full names
//! (`pkg:ns/iface@ver.{fn}`, split with [`revenant_components::split_name`]).

use revenant_components::split_name;
use wasmtime::component::types::{ComponentFunc, ComponentItem};
use wasmtime::component::{Component, ComponentExportIndex};

/// The wasmtime export index of a function given by its full name
/// (`pkg:ns/iface@ver.{fn}`: the instance export, then the function in it;
/// world-level `fn` or `{fn}`: directly). `None` if there is no such function.
pub fn lookup_func(component: &Component, full_name: &str) -> Option<ComponentExportIndex> {
    lookup(component, full_name).map(|(index, _)| index)
}

/// The type of the function `full_name` (see [`lookup_func`]), for value conversion
/// before instantiating. An instance's `Func::ty` gives the same type.
pub fn lookup_func_type(component: &Component, full_name: &str) -> Option<ComponentFunc> {
    lookup(component, full_name).map(|(_, ty)| ty)
}

pub(crate) fn lookup(
    component: &Component,
    full_name: &str,
) -> Option<(ComponentExportIndex, ComponentFunc)> {
    let (iface, func) = split_name(full_name);
    let instance = match iface {
        Some(iface) => match component.get_export(None, iface)? {
            (ComponentItem::ComponentInstance(_), index) => Some(index),
            _ => return None,
        },
        None => None,
    };
    match component.get_export(instance.as_ref(), func)? {
        (ComponentItem::ComponentFunc(ty), index) => Some((index, ty)),
        _ => None,
    }
}
