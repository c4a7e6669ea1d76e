//! Component metadata: which functions a component exports (with WIT
//! signatures), whether its imports are ones we provide, and how a requested
//! function name maps onto a wasmtime export.
//!
//! Names and types come from decoding the binary with `wit-component` into a
//! `wit_parser::Resolve`, so named types keep their WIT names
//! (`list<product-item>`, not a structural expansion). Function names follow the
//! NATS contract: `pkg:ns/iface@ver.{fn}` for interface exports (the interface
//! part exactly as the component exports it) and the bare `fn` for world-level
//! exports. Resource constructors, methods and static functions are not listed:
//! they cannot be invoked with JSON/WAVE arguments.
//!
//! This module does not compile, instantiate or call anything; the engine does.

use revenant_types::records::ExportedFunction;
use wasmtime::component::types::{ComponentFunc, ComponentItem};
use wasmtime::component::{Component, ComponentExportIndex};
use wit_parser::{FunctionKind, Handle, Resolve, Type, TypeDefKind, WorldId, WorldItem};

/// Errors of this module. Every message says what was expected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ExportsError {
    /// The bytes are not a WebAssembly component.
    #[error(
        "expected a WebAssembly component (wasm32-wasip2), got {found}; build the guest with \
         `--target wasm32-wasip2` (or wrap a core module with `wasm-tools component new`)"
    )]
    NotAComponent {
        /// What the bytes were instead (`a core WebAssembly module`, `a WIT package`, …).
        found: String,
    },
    /// The component could not be decoded.
    #[error("invalid WebAssembly component: {message}")]
    Invalid {
        /// The decoder's message.
        message: String,
    },
    /// The component imports an interface (or function) the host does not provide.
    #[error(
        "the component imports `{name}`, which Revenant does not provide \
         (supported: wasi:* 0.2 interfaces and revenant:api)"
    )]
    UnsupportedImport {
        /// The import's name as the component spells it, e.g. `wasi:sockets/tcp@0.2.3`.
        name: String,
    },
    /// No exported function matches the requested name.
    #[error(
        "the component exports no function `{requested}`; available: {}",
        list(available)
    )]
    UnknownFunction {
        /// The name as requested.
        requested: String,
        /// Full names of every exported function.
        available: Vec<String>,
    },
    /// A bare function name matches several exports.
    #[error(
        "function name `{requested}` is ambiguous; use the full name, one of: {}",
        list(candidates)
    )]
    Ambiguous {
        /// The name as requested.
        requested: String,
        /// Full names of the matching exports.
        candidates: Vec<String>,
    },
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "(none)".to_owned()
    } else {
        names.join(", ")
    }
}

/// Every function the component exports, in export order, with WIT type text.
pub fn exported_functions(bytes: &[u8]) -> Result<Vec<ExportedFunction>, ExportsError> {
    let (resolve, world) = decode_component(bytes)?;
    let mut out = Vec::new();
    for (key, item) in &resolve.worlds[world].exports {
        match item {
            WorldItem::Function(f) if is_callable(&f.kind) => {
                out.push(describe(&resolve, f.name.clone(), f));
            }
            WorldItem::Interface { id, .. } => {
                let iface = resolve.name_world_key(key);
                for f in resolve.interfaces[*id].functions.values() {
                    if is_callable(&f.kind) {
                        out.push(describe(&resolve, format!("{iface}.{{{}}}", f.name), f));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Refuses anything that is not a component, and components importing an
/// interface (or world-level function) for which `allowed(name)` is false.
/// `name` is the import as the component spells it, e.g. `wasi:cli/environment@0.2.3`.
pub fn check_imports(bytes: &[u8], allowed: impl Fn(&str) -> bool) -> Result<(), ExportsError> {
    let (resolve, world) = decode_component(bytes)?;
    for (key, item) in &resolve.worlds[world].imports {
        let name = match item {
            WorldItem::Interface { .. } | WorldItem::Function(_) => resolve.name_world_key(key),
            WorldItem::Type { .. } => continue,
        };
        if !allowed(&name) {
            return Err(ExportsError::UnsupportedImport { name });
        }
    }
    Ok(())
}

/// Finds the export a caller asked for: its full name (`pkg:ns/iface@ver.{fn}`
/// or world-level `fn`), the full name without `@version`, `{fn}`, or the bare
/// `fn` when exactly one export has that function name.
pub fn resolve_function<'a>(
    exports: &'a [ExportedFunction],
    requested: &str,
) -> Result<&'a ExportedFunction, ExportsError> {
    if let Some(f) = exports.iter().find(|f| f.name == requested) {
        return Ok(f);
    }
    let (iface, func) = split_name(requested);
    let candidates: Vec<&ExportedFunction> = exports
        .iter()
        .filter(|f| {
            let (f_iface, f_func) = split_name(&f.name);
            f_func == func
                && match (iface, f_iface) {
                    (None, _) => true,
                    (Some(want), Some(have)) => want == have || strip_version(have) == want,
                    (Some(_), None) => false,
                }
        })
        .collect();
    match candidates.as_slice() {
        [one] => Ok(one),
        [] => Err(ExportsError::UnknownFunction {
            requested: requested.to_owned(),
            available: exports.iter().map(|f| f.name.clone()).collect(),
        }),
        many => Err(ExportsError::Ambiguous {
            requested: requested.to_owned(),
            candidates: many.iter().map(|f| f.name.clone()).collect(),
        }),
    }
}

/// The wasmtime export index of a function given by its full name
/// (`pkg:ns/iface@ver.{fn}`: the instance export, then the function in it;
/// world-level `fn` or `{fn}`: directly). `None` if there is no such function.
pub fn lookup_func(component: &Component, full_name: &str) -> Option<ComponentExportIndex> {
    lookup(component, full_name).map(|(_, index)| index)
}

/// The type of the function `full_name` (see [`lookup_func`]), for value conversion
/// before instantiating. An instance's `Func::ty` gives the same type.
pub fn lookup_func_type(component: &Component, full_name: &str) -> Option<ComponentFunc> {
    match lookup(component, full_name)? {
        (ComponentItem::ComponentFunc(ty), _) => Some(ty),
        _ => None,
    }
}

fn lookup(component: &Component, full_name: &str) -> Option<(ComponentItem, ComponentExportIndex)> {
    let (iface, func) = split_name(full_name);
    let instance = match iface {
        Some(iface) => Some(component.get_export_index(None, iface)?),
        None => None,
    };
    let (item, index) = component.get_export(instance.as_ref(), func)?;
    matches!(item, ComponentItem::ComponentFunc(_)).then_some((item, index))
}

/// `pkg:ns/iface.{fn}` → `(Some("pkg:ns/iface"), "fn")`; `{fn}` / `fn` → `(None, "fn")`.
fn split_name(name: &str) -> (Option<&str>, &str) {
    if let Some(inner) = name.strip_suffix('}') {
        if let Some((iface, func)) = inner.rsplit_once(".{") {
            return (Some(iface), func);
        }
        if let Some(func) = inner.strip_prefix('{') {
            return (None, func);
        }
    }
    (None, name)
}

fn strip_version(iface: &str) -> &str {
    iface.split_once('@').map_or(iface, |(name, _)| name)
}

/// Rejects non-components with a clear message, then decodes the WIT world.
fn decode_component(bytes: &[u8]) -> Result<(Resolve, WorldId), ExportsError> {
    const MAGIC: &[u8] = b"\0asm";
    const CORE_VERSION: [u8; 4] = [1, 0, 0, 0];
    let found = if bytes.len() < 8 || &bytes[..4] != MAGIC {
        Some("bytes that are not WebAssembly (no `\\0asm` header)")
    } else if bytes[4..8] == CORE_VERSION {
        Some("a core WebAssembly module")
    } else {
        None
    };
    if let Some(found) = found {
        return Err(ExportsError::NotAComponent {
            found: found.to_owned(),
        });
    }
    match wit_component::decode(bytes) {
        Ok(wit_component::DecodedWasm::Component(resolve, world)) => Ok((resolve, world)),
        Ok(wit_component::DecodedWasm::WitPackage(..)) => Err(ExportsError::NotAComponent {
            found: "a WIT package (types only, no code)".to_owned(),
        }),
        Err(e) => Err(ExportsError::Invalid {
            message: format!("{e:#}"),
        }),
    }
}

fn is_callable(kind: &FunctionKind) -> bool {
    matches!(
        kind,
        FunctionKind::Freestanding | FunctionKind::AsyncFreestanding
    )
}

fn describe(resolve: &Resolve, name: String, f: &wit_parser::Function) -> ExportedFunction {
    ExportedFunction {
        name,
        params: f
            .params
            .iter()
            .map(|p| (p.name.clone(), wit_type(resolve, &p.ty)))
            .collect(),
        result: f.result.as_ref().map(|t| wit_type(resolve, t)),
    }
}

/// WIT text of a type: its name when it has one, WIT syntax otherwise.
fn wit_type(resolve: &Resolve, ty: &Type) -> String {
    let id = match ty {
        Type::Bool => return "bool".into(),
        Type::U8 => return "u8".into(),
        Type::U16 => return "u16".into(),
        Type::U32 => return "u32".into(),
        Type::U64 => return "u64".into(),
        Type::S8 => return "s8".into(),
        Type::S16 => return "s16".into(),
        Type::S32 => return "s32".into(),
        Type::S64 => return "s64".into(),
        Type::F32 => return "f32".into(),
        Type::F64 => return "f64".into(),
        Type::Char => return "char".into(),
        Type::String => return "string".into(),
        Type::ErrorContext => return "error-context".into(),
        Type::Id(id) => *id,
    };
    let def = &resolve.types[id];
    if let Some(name) = &def.name {
        return name.clone();
    }
    let t = |ty: &Type| wit_type(resolve, ty);
    let opt = |ty: &Option<Type>| ty.as_ref().map_or_else(|| "_".to_owned(), t);
    let resource = |id: &wit_parser::TypeId| {
        resolve.types[*id]
            .name
            .clone()
            .unwrap_or_else(|| "resource".to_owned())
    };
    match &def.kind {
        TypeDefKind::List(ty) => format!("list<{}>", t(ty)),
        TypeDefKind::FixedLengthList(ty, n) => format!("list<{}, {n}>", t(ty)),
        TypeDefKind::Map(k, v) => format!("map<{}, {}>", t(k), t(v)),
        TypeDefKind::Option(ty) => format!("option<{}>", t(ty)),
        TypeDefKind::Result(r) => match (&r.ok, &r.err) {
            (None, None) => "result".to_owned(),
            (Some(ok), None) => format!("result<{}>", t(ok)),
            (ok, Some(err)) => format!("result<{}, {}>", opt(ok), t(err)),
        },
        TypeDefKind::Tuple(tuple) => {
            format!(
                "tuple<{}>",
                tuple.types.iter().map(t).collect::<Vec<_>>().join(", ")
            )
        }
        TypeDefKind::Handle(Handle::Own(r)) => resource(r),
        TypeDefKind::Handle(Handle::Borrow(r)) => format!("borrow<{}>", resource(r)),
        TypeDefKind::Future(ty) => ty
            .as_ref()
            .map_or("future".to_owned(), |ty| format!("future<{}>", t(ty))),
        TypeDefKind::Stream(ty) => ty
            .as_ref()
            .map_or("stream".to_owned(), |ty| format!("stream<{}>", t(ty))),
        TypeDefKind::Type(ty) => t(ty),
        // Anonymous records, variants, enums, flags and resources do not occur in valid WIT.
        other => other.as_str().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::test_support::{component_bytes, guest_component};

    fn names(exports: &[ExportedFunction]) -> Vec<&str> {
        exports.iter().map(|f| f.name.as_str()).collect()
    }

    #[test]
    fn lists_exports_with_wit_names() {
        let exports = exported_functions(&component_bytes("guest")).unwrap();
        let sig = |name: &str| {
            let f = exports
                .iter()
                .find(|f| f.name == name)
                .unwrap_or_else(|| panic!("{name}"));
            f.signature()
        };
        assert_eq!(
            sig("example:types/api@0.1.0.{add}"),
            "example:types/api@0.1.0.{add}(value: u64) -> u64"
        );
        assert_eq!(
            sig("example:types/api@0.1.0.{add-item}"),
            "example:types/api@0.1.0.{add-item}(item: product-item) -> result<_, string>"
        );
        assert_eq!(
            sig("example:types/api@0.1.0.{items}"),
            "example:types/api@0.1.0.{items}() -> item-list"
        );
        assert_eq!(
            sig("example:types/api@0.1.0.{nested}"),
            "example:types/api@0.1.0.{nested}(o: option<option<u32>>, r: result<u32, string>, r2: result) \
             -> list<tuple<bool, option<string>>>"
        );
        assert_eq!(
            sig("example:types/api@0.1.0.{shapes}"),
            "example:types/api@0.1.0.{shapes}(s: shape, c: color, p: perms) -> option<shape>"
        );
        assert_eq!(
            sig("example:types/api@0.1.0.{peek}"),
            "example:types/api@0.1.0.{peek}(c: borrow<counter>) -> u64"
        );
        assert_eq!(
            sig("example:types/api@0.1.0.{make}"),
            "example:types/api@0.1.0.{make}() -> counter"
        );
        assert_eq!(
            sig("example:types/api@0.1.0.{noop}"),
            "example:types/api@0.1.0.{noop}()"
        );
        assert_eq!(sig("hello"), "hello(name: string) -> string");
        assert_eq!(sig("add"), "add(a: u32, b: u32) -> u32");
        // Resource constructors and methods are not invocable functions.
        assert!(
            !names(&exports)
                .iter()
                .any(|n| n.contains("[constructor]") || n.contains("[method]"))
        );
        assert_eq!(exports.len(), 15, "{:?}", names(&exports));
    }

    #[test]
    fn resolves_full_versionless_and_bare_names() {
        let exports = exported_functions(&component_bytes("guest")).unwrap();
        let full = "example:types/api@0.1.0.{add-item}";
        assert_eq!(resolve_function(&exports, full).unwrap().name, full);
        assert_eq!(
            resolve_function(&exports, "example:types/api.{add-item}")
                .unwrap()
                .name,
            full
        );
        assert_eq!(resolve_function(&exports, "add-item").unwrap().name, full);
        assert_eq!(resolve_function(&exports, "{add-item}").unwrap().name, full);
        assert_eq!(resolve_function(&exports, "hello").unwrap().name, "hello");
        // The exact world-level name wins over the interface function of the same name.
        assert_eq!(resolve_function(&exports, "add").unwrap().name, "add");
        assert_eq!(
            resolve_function(&exports, "example:types/api.{add}")
                .unwrap()
                .name,
            "example:types/api@0.1.0.{add}"
        );

        let err = resolve_function(&exports, "nope").unwrap_err();
        let ExportsError::UnknownFunction { available, .. } = &err else {
            panic!("{err:?}")
        };
        assert!(available.contains(&full.to_owned()));
        assert!(
            err.to_string()
                .contains("available: hello, add, example:types/api@0.1.0.{add}, "),
            "{err}"
        );
        assert!(matches!(
            resolve_function(&exports, "other:pkg/api.{add-item}"),
            Err(ExportsError::UnknownFunction { .. })
        ));
    }

    #[test]
    fn bare_name_in_two_interfaces_is_ambiguous() {
        let f = |name: &str| ExportedFunction {
            name: name.into(),
            params: vec![],
            result: None,
        };
        let exports = [f("a:b/one.{run}"), f("a:b/two.{run}")];
        let err = resolve_function(&exports, "run").unwrap_err();
        assert_eq!(
            err,
            ExportsError::Ambiguous {
                requested: "run".into(),
                candidates: vec!["a:b/one.{run}".into(), "a:b/two.{run}".into()]
            }
        );
    }

    #[test]
    fn looks_up_wasmtime_exports() {
        let component = guest_component();
        assert!(lookup_func(component, "example:types/api@0.1.0.{add}").is_some());
        assert!(lookup_func(component, "hello").is_some());
        assert!(lookup_func(component, "{hello}").is_some());
        assert!(lookup_func(component, "example:types/api@0.1.0.{missing}").is_none());
        assert!(
            lookup_func(component, "example:types/api@0.1.0").is_none(),
            "an instance is not a function"
        );
        let ty = lookup_func_type(component, "add").unwrap();
        assert_eq!(ty.params().map(|(n, _)| n).collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn checks_imports() {
        let bytes = component_bytes("importer");
        let wasi = |name: &str| name.starts_with("wasi:");
        let err = check_imports(&bytes, wasi).unwrap_err();
        assert_eq!(
            err,
            ExportsError::UnsupportedImport {
                name: "example:types/api@0.1.0".into()
            }
        );
        let err = check_imports(&bytes, |n| wasi(n) || n.starts_with("example:")).unwrap_err();
        assert_eq!(err, ExportsError::UnsupportedImport { name: "log".into() });
        check_imports(&bytes, |_| true).unwrap();
        check_imports(&component_bytes("guest"), |_| false).unwrap();
    }

    #[test]
    fn refuses_non_components() {
        let core = b"\0asm\x01\0\0\0";
        let err = check_imports(core, |_| true).unwrap_err();
        assert!(matches!(&err, ExportsError::NotAComponent { found } if found.contains("core")));
        assert!(
            err.to_string()
                .starts_with("expected a WebAssembly component (wasm32-wasip2)"),
            "{err}"
        );
        assert!(matches!(
            exported_functions(b"hello world"),
            Err(ExportsError::NotAComponent { .. })
        ));
        let truncated = &component_bytes("guest")[..40];
        assert!(matches!(
            exported_functions(truncated),
            Err(ExportsError::Invalid { .. })
        ));
    }
}
