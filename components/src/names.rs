//! Function names of the NATS contract (`Rvn-Function`): the one splitter of a
//! full name into interface and function, and resolution of a requested name
//! against a component's exports.
//!
//! Full names are `pkg:ns/iface@ver.{fn}` for interface exports (the interface
//! part exactly as the component exports it) and the bare `fn` for world-level
//! exports. A caller may ask for the full name, the full name without
//! `@version`, `{fn}`, or the bare `fn` when exactly one export has that name.
//! The executor's wasmtime lookups split names with [`split_name`] too, so a
//! name resolved here is found there.

use revenant_types::records::ExportedFunction;

/// Why a requested function name matches no single export.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ResolveError {
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

/// Splits a function name into its interface (if any) and function:
/// `pkg:ns/iface@ver.{fn}` → `(Some("pkg:ns/iface@ver"), "fn")`;
/// `{fn}` and `fn` → `(None, "fn")`.
pub fn split_name(name: &str) -> (Option<&str>, &str) {
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

/// `pkg:ns/iface@1.0.0` → `pkg:ns/iface`.
fn strip_version(iface: &str) -> &str {
    iface.split_once('@').map_or(iface, |(name, _)| name)
}

/// Finds the export a caller asked for: its full name (`pkg:ns/iface@ver.{fn}`
/// or world-level `fn`), the full name without `@version`, `{fn}`, or the bare
/// `fn` when exactly one export has that function name. An exact full name wins
/// over a bare match (world-level `add` over `pkg:ns/iface.{add}`).
pub fn resolve_function<'a>(
    exports: &'a [ExportedFunction],
    requested: &str,
) -> Result<&'a ExportedFunction, ResolveError> {
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
        [] => Err(ResolveError::UnknownFunction {
            requested: requested.to_owned(),
            available: exports.iter().map(|f| f.name.clone()).collect(),
        }),
        many => Err(ResolveError::Ambiguous {
            requested: requested.to_owned(),
            candidates: many.iter().map(|f| f.name.clone()).collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::component_bytes;
    use crate::inspect;

    #[test]
    fn a_full_name_splits_into_interface_and_function() {
        assert_eq!(
            split_name("example:counter/api.{add}"),
            (Some("example:counter/api"), "add")
        );
        assert_eq!(
            split_name("example:counter/api@1.0.0.{add}"),
            (Some("example:counter/api@1.0.0"), "add")
        );
        assert_eq!(split_name("{run}"), (None, "run"));
        assert_eq!(split_name("add"), (None, "add"));
        assert_eq!(split_name("add}"), (None, "add}"), "not a full name");
    }

    #[test]
    fn full_versionless_braced_and_bare_names_resolve_to_the_same_export() {
        let exports = inspect(&component_bytes("guest")).unwrap().exports;
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
    }

    #[test]
    fn an_unknown_name_lists_every_export() {
        let exports = inspect(&component_bytes("guest")).unwrap().exports;
        let err = resolve_function(&exports, "nope").unwrap_err();
        let ResolveError::UnknownFunction { available, .. } = &err else {
            panic!("{err:?}")
        };
        assert!(available.contains(&"example:types/api@0.1.0.{add-item}".to_owned()));
        assert!(
            err.to_string()
                .contains("available: hello, add, example:types/api@0.1.0.{add}, "),
            "{err}"
        );
        assert!(matches!(
            resolve_function(&exports, "other:pkg/api.{add-item}"),
            Err(ResolveError::UnknownFunction { .. })
        ));
    }

    #[test]
    fn a_bare_name_in_two_interfaces_is_ambiguous() {
        let f = |name: &str| ExportedFunction {
            name: name.into(),
            params: vec![],
            result: None,
            shapes: vec![],
        };
        let exports = [f("a:b/one.{run}"), f("a:b/two.{run}")];
        let err = resolve_function(&exports, "run").unwrap_err();
        assert_eq!(
            err,
            ResolveError::Ambiguous {
                requested: "run".into(),
                candidates: vec!["a:b/one.{run}".into(), "a:b/two.{run}".into()]
            }
        );
        assert_eq!(
            resolve_function(&exports, "a:b/two.{run}").unwrap().name,
            "a:b/two.{run}"
        );
    }
}
