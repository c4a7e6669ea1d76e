//! The WIT of a typed RPC client for a component (`revenant component client-wit`):
//! for each interface the component exports, an interface of the same name in package
//! `<ns>:<component>-client` (see [`crate::client_import`]) holding a resource named
//! like the interface — constructed with the callee worker's name — with each exported
//! function `f` as the methods `f` (invoke and await), `f-send` and `f-async`, plus a
//! `future-f-result` resource per function. Named types the functions use are copied
//! into the client interface. The executor links such an import to the component at
//! load and checks it against the component's exports.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use wit_parser::{Function, FunctionKind, Resolve, Type, TypeDefKind, TypeId, WorldItem};

use crate::inspect::{InspectError, decode};

/// The `wasi:io/poll` version the executor serves (the futures' pollables).
const POLL: &str = "wasi:io/poll@0.2.12";
/// The `revenant:api` package version whose `rpc-error` clients use.
const RPC: &str = "revenant:api/rpc@0.2.0";

/// The client WIT for `component` (deployed under that name), from its binary.
pub fn client_wit(bytes: &[u8], component: &str) -> Result<String, InspectError> {
    if !is_wit_identifier(component) {
        return Err(InspectError::Invalid {
            message: format!(
                "component name {component:?} cannot name a WIT package (`<ns>:{component}-client`): a client needs a component named in lowercase kebab-case (letters, digits, single hyphens, starting with a letter)"
            ),
        });
    }
    let wit = decode(bytes)?;
    let resolve = &wit.resolve;
    let mut out = String::new();
    let mut namespace = None;
    let mut body = String::new();
    for (key, item) in &resolve.worlds[wit.world].exports {
        let WorldItem::Interface { id, .. } = item else {
            continue;
        };
        let iface = &resolve.interfaces[*id];
        let (Some(name), Some(package)) = (&iface.name, iface.package) else {
            continue;
        };
        let functions: Vec<&Function> = iface
            .functions
            .values()
            .filter(|f| matches!(f.kind, FunctionKind::Freestanding))
            .collect();
        if functions.is_empty() {
            continue;
        }
        let ns = &resolve.packages[package].name.namespace;
        match &namespace {
            None => namespace = Some(ns.clone()),
            Some(first) if first != ns => continue,
            Some(_) => {}
        }
        let exported = resolve.name_world_key(key);
        interface(resolve, component, &exported, name, &functions, &mut body)?;
    }
    let Some(namespace) = namespace else {
        return Err(InspectError::Invalid {
            message: format!(
                "component {component} exports no interface with functions: there is nothing to call"
            ),
        });
    };
    let _ = writeln!(
        out,
        "// A typed RPC client of component `{component}`, written by `revenant component client-wit {component}`.\n\
         // Import an interface of it in a world (`import {namespace}:{component}-client/<interface>;`) with\n\
         // `wasi:io` and `revenant:api` among the WIT dependencies; the executor links it to `{component}`.\n\
         package {namespace}:{component}-client;"
    );
    out.push_str(&body);
    Ok(out)
}

fn interface(
    resolve: &Resolve,
    component: &str,
    exported: &str,
    name: &str,
    functions: &[&Function],
    out: &mut String,
) -> Result<(), InspectError> {
    let mut named = BTreeSet::new();
    let mut sigs = Vec::new();
    for f in functions {
        let mut params = Vec::new();
        for p in &f.params {
            params.push(format!(
                "{}: {}",
                ident(&p.name),
                ty(resolve, &p.ty, &mut named)?
            ));
        }
        let result = f
            .result
            .as_ref()
            .map(|t| ty(resolve, t, &mut named))
            .transpose()?
            .unwrap_or_else(|| "_".to_owned());
        sigs.push((f.name.clone(), params.join(", "), result));
    }
    let _ = writeln!(
        out,
        "\n/// Calls workers of component `{component}` through its export `{exported}`.\ninterface {} {{\n    use {POLL}.{{pollable}};\n    use {RPC}.{{rpc-error}};",
        ident(name)
    );
    let mut done = BTreeSet::new();
    let mut queue: Vec<TypeId> = named.iter().copied().collect();
    while let Some(id) = queue.pop() {
        if !done.insert(id) {
            continue;
        }
        let mut more = BTreeSet::new();
        out.push('\n');
        out.push_str(&definition(resolve, id, &mut more)?);
        queue.extend(more.into_iter().filter(|m| !done.contains(m)));
    }
    for (f, _, result) in &sigs {
        let _ = writeln!(
            out,
            "\n    /// The outcome of an async call of `{f}`.\n    resource future-{f}-result {{\n        subscribe: func() -> pollable;\n        get: func() -> option<result<{result}, rpc-error>>;\n    }}"
        );
    }
    let _ = writeln!(
        out,
        "\n    /// A client of one worker of `{component}` (created by the first call if it does not exist).\n    resource {} {{\n        constructor(worker-name: string);",
        ident(name)
    );
    for (f, params, result) in &sigs {
        let sep = if params.is_empty() { "" } else { ", " };
        let _ = writeln!(
            out,
            "        /// Invokes `{f}` and waits for its result.\n        {f}: func({params}) -> result<{result}, rpc-error>;\n        /// Invokes `{f}` without waiting.\n        {f}-send: func({params}) -> result<_, rpc-error>;\n        /// Invokes `{f}`; the result arrives in the future.\n        {f}-async: func({params}) -> future-{f}-result;\n        /// Invokes `{f}` at `at-epoch-ms` (ms since the Unix epoch); the schedule's id, for\n        /// `revenant:api/rpc.cancel-schedule`.\n        {f}-schedule: func(at-epoch-ms: u64{sep}{params}) -> result<string, rpc-error>;"
        );
    }
    out.push_str("    }\n}\n");
    Ok(())
}

/// WIT text of a type; named types are collected in `named` (to be defined).
fn ty(resolve: &Resolve, t: &Type, named: &mut BTreeSet<TypeId>) -> Result<String, InspectError> {
    Ok(match t {
        Type::Bool => "bool".into(),
        Type::U8 => "u8".into(),
        Type::U16 => "u16".into(),
        Type::U32 => "u32".into(),
        Type::U64 => "u64".into(),
        Type::S8 => "s8".into(),
        Type::S16 => "s16".into(),
        Type::S32 => "s32".into(),
        Type::S64 => "s64".into(),
        Type::F32 => "f32".into(),
        Type::F64 => "f64".into(),
        Type::Char => "char".into(),
        Type::String => "string".into(),
        Type::ErrorContext => return Err(unsupported("error-context")),
        Type::Id(id) => {
            let def = &resolve.types[*id];
            if let Some(name) = &def.name {
                if matches!(def.kind, TypeDefKind::Resource | TypeDefKind::Handle(_)) {
                    return Err(unsupported(&format!("resource {name}")));
                }
                named.insert(*id);
                return Ok(ident(name));
            }
            let mut t = |inner: &Type| ty(resolve, inner, named);
            match &def.kind {
                TypeDefKind::List(inner) => format!("list<{}>", t(inner)?),
                TypeDefKind::Option(inner) => format!("option<{}>", t(inner)?),
                TypeDefKind::Result(r) => {
                    let ok = r.ok.as_ref().map(&mut t).transpose()?;
                    let err = r.err.as_ref().map(&mut t).transpose()?;
                    match (ok, err) {
                        (None, None) => "result".into(),
                        (Some(ok), None) => format!("result<{ok}>"),
                        (ok, Some(err)) => {
                            format!("result<{}, {err}>", ok.unwrap_or_else(|| "_".into()))
                        }
                    }
                }
                TypeDefKind::Tuple(tuple) => {
                    let items: Result<Vec<_>, _> = tuple.types.iter().map(t).collect();
                    format!("tuple<{}>", items?.join(", "))
                }
                TypeDefKind::Type(inner) => t(inner)?,
                other => return Err(unsupported(other.as_str())),
            }
        }
    })
}

/// The definition of a named type, indented for an interface.
fn definition(
    resolve: &Resolve,
    id: TypeId,
    named: &mut BTreeSet<TypeId>,
) -> Result<String, InspectError> {
    let def = &resolve.types[id];
    let name = ident(def.name.as_deref().unwrap_or_default());
    let mut out = String::new();
    let mut items = |kind: &str, items: Vec<String>| {
        let _ = writeln!(out, "    {kind} {name} {{");
        for item in items {
            let _ = writeln!(out, "        {item},");
        }
        out.push_str("    }\n");
    };
    match &def.kind {
        TypeDefKind::Record(r) => {
            let fields: Result<Vec<_>, _> = r
                .fields
                .iter()
                .map(|f| {
                    Ok::<_, InspectError>(format!(
                        "{}: {}",
                        ident(&f.name),
                        ty(resolve, &f.ty, named)?
                    ))
                })
                .collect();
            items("record", fields?);
        }
        TypeDefKind::Variant(v) => {
            let cases: Result<Vec<_>, _> = v
                .cases
                .iter()
                .map(|c| {
                    Ok::<_, InspectError>(match &c.ty {
                        Some(t) => format!("{}({})", ident(&c.name), ty(resolve, t, named)?),
                        None => ident(&c.name),
                    })
                })
                .collect();
            items("variant", cases?);
        }
        TypeDefKind::Enum(e) => items("enum", e.cases.iter().map(|c| ident(&c.name)).collect()),
        TypeDefKind::Flags(f) => items("flags", f.flags.iter().map(|c| ident(&c.name)).collect()),
        TypeDefKind::Type(t) => {
            let _ = writeln!(out, "    type {name} = {};", ty(resolve, t, named)?);
        }
        // Lists and options with a name (`type ids = list<string>`).
        TypeDefKind::List(t) => {
            let _ = writeln!(out, "    type {name} = list<{}>;", ty(resolve, t, named)?);
        }
        TypeDefKind::Option(t) => {
            let _ = writeln!(out, "    type {name} = option<{}>;", ty(resolve, t, named)?);
        }
        other => return Err(unsupported(other.as_str())),
    }
    Ok(out)
}

fn unsupported(what: &str) -> InspectError {
    InspectError::Invalid {
        message: format!(
            "an exported function uses {what}, which cannot cross a worker-to-worker call (values travel as JSON); a client cannot be written for it"
        ),
    }
}

/// A WIT identifier, `%`-escaped when it is a keyword.
fn ident(name: &str) -> String {
    const KEYWORDS: &[&str] = &[
        "as",
        "async",
        "bool",
        "borrow",
        "char",
        "constructor",
        "enum",
        "export",
        "f32",
        "f64",
        "flags",
        "from",
        "func",
        "future",
        "import",
        "include",
        "interface",
        "list",
        "option",
        "own",
        "package",
        "record",
        "resource",
        "result",
        "s16",
        "s32",
        "s64",
        "s8",
        "static",
        "stream",
        "string",
        "tuple",
        "type",
        "u16",
        "u32",
        "u64",
        "u8",
        "use",
        "variant",
        "with",
        "world",
        "error-context",
    ];
    if KEYWORDS.contains(&name) {
        format!("%{name}")
    } else {
        name.to_owned()
    }
}

/// Lowercase kebab-case: `[a-z][a-z0-9]*(-[a-z0-9]+)*` (a WIT package name).
fn is_wit_identifier(name: &str) -> bool {
    name.split('-').enumerate().all(|(i, part)| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            && (i > 0 || part.starts_with(|c: char| c.is_ascii_lowercase()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &str) -> Vec<u8> {
        std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// The client parses as WIT, with `revenant:api` and `wasi:io` as dependencies.
    fn parses(text: &str) {
        let mut resolve = Resolve::default();
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../wit");
        resolve.push_dir(root).expect("revenant:api parses");
        resolve
            .push_str("client.wit", text)
            .unwrap_or_else(|e| panic!("{e:#}\n{text}"));
    }

    #[test]
    fn a_client_has_await_send_and_async_methods_per_export_and_parses_as_wit() {
        let text = client_wit(&read(revenant_guests::COUNTER), "counter").unwrap();
        assert!(text.contains("package example:counter-client;"), "{text}");
        assert!(text.contains("resource api {"), "{text}");
        assert!(text.contains("constructor(worker-name: string);"), "{text}");
        assert!(
            text.contains("add: func(value: u64) -> result<u64, rpc-error>;"),
            "{text}"
        );
        assert!(
            text.contains("add-send: func(value: u64) -> result<_, rpc-error>;"),
            "{text}"
        );
        assert!(
            text.contains("add-async: func(value: u64) -> future-add-result;"),
            "{text}"
        );
        parses(&text);
    }

    #[test]
    fn named_types_are_copied_into_the_client() {
        let text = client_wit(&read(revenant_guests::SHOPPING_CART), "shopping-cart").unwrap();
        assert!(text.contains("record product-item {"), "{text}");
        assert!(text.contains("record order-confirmation {"), "{text}");
        parses(&text);
    }

    #[test]
    fn a_component_name_that_cannot_name_a_package_is_refused() {
        let e = client_wit(b"", "Counter_2").unwrap_err();
        assert!(e.to_string().contains("kebab-case"), "{e}");
        assert!(is_wit_identifier("order-workflow2"));
        assert!(!is_wit_identifier("2x") && !is_wit_identifier("a--b"));
    }
}
