//! Inspecting a component binary at upload, without compiling it: refuse what
//! is not a component, validate it with the same `wasmparser` (version and
//! feature set) that wasmtime compiles with, decode its WIT once, check its
//! imports against what executors provide ([`crate::imports`]), and describe
//! its exports. The result is everything a [`ComponentRecord`] holds but the
//! name, version and upload time, which the registry adds.
//!
//! What this does not check (the executor's linker does, when it first loads
//! the component): that each imported function has the types the host expects,
//! and engine limits (memory, tables, instance counts).

use revenant_types::ComponentName;
use revenant_types::oplog::TimestampMs;
use revenant_types::records::{ComponentRecord, ExportedFunction};
use sha2::{Digest, Sha256};
use wasmparser::{Validator, WasmFeatures};

use crate::imports::provided_import;
use crate::wit::Wit;

/// Why a binary cannot be uploaded. Every message says what was expected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InspectError {
    /// The bytes are not a WebAssembly component.
    #[error(
        "expected a WebAssembly component (wasm32-wasip2), got {found}; build the guest with \
         `--target wasm32-wasip2` (or wrap a core module with `wasm-tools component new`)"
    )]
    NotAComponent {
        /// What the bytes were instead (`a core WebAssembly module`, `a WIT package`, …).
        found: String,
    },
    /// The component is malformed, or uses a WebAssembly feature the executor does not enable.
    #[error("invalid WebAssembly component: {message}")]
    Invalid {
        /// The validator's (or WIT decoder's) message.
        message: String,
    },
    /// The component imports an interface (or function) the host does not provide.
    #[error(
        "the component imports `{name}`, which Revenant does not provide \
         (supported: wasi:* 0.2 interfaces, wasi:logging@0.1.0-draft and revenant:api)"
    )]
    UnsupportedImport {
        /// The import's name as the component spells it, e.g. `wasi:keyvalue/store@0.2.0-draft`.
        name: String,
    },
}

/// What upload learns from a binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// SHA-256 of the binary, hex.
    pub hash: String,
    /// Size of the binary in bytes.
    pub size: u64,
    /// Every callable export with its WIT signature and parameter shapes.
    pub exports: Vec<ExportedFunction>,
}

impl Inspection {
    /// The metadata of version `version` of component `name`, uploaded at `created_at`.
    pub fn record(
        &self,
        name: ComponentName,
        version: u64,
        created_at: TimestampMs,
    ) -> ComponentRecord {
        ComponentRecord {
            name,
            version,
            hash: self.hash.clone(),
            size: self.size,
            exports: self.exports.clone(),
            created_at,
            snapshot: Default::default(),
            ephemeral: false,
        }
    }
}

/// The WebAssembly features the executor's engine enables (wasmtime 48's
/// defaults with the component model and without component-model async, as
/// `executor/src/engine.rs` configures it): WebAssembly 3.0 (GC, threads,
/// exceptions, tail calls, memory64, …) plus components.
pub const FEATURES: WasmFeatures = WasmFeatures::WASM3.union(WasmFeatures::COMPONENT_MODEL);

/// SHA-256 of a binary, hex: the `hash` of its [`ComponentRecord`].
pub fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Validates a component binary and describes it (see the module docs).
/// Refuses what is not a wasip2 component and components importing what
/// executors don't provide.
pub fn inspect(bytes: &[u8]) -> Result<Inspection, InspectError> {
    let wit = decode(bytes)?;
    check_imports(&wit, provided_import)?;
    Ok(Inspection {
        hash: content_hash(bytes),
        size: bytes.len() as u64,
        exports: wit.exports(),
    })
}

/// Rejects non-components with a clear message, validates, then decodes the WIT world.
pub(crate) fn decode(bytes: &[u8]) -> Result<Wit, InspectError> {
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
        return Err(InspectError::NotAComponent {
            found: found.to_owned(),
        });
    }
    Validator::new_with_features(FEATURES)
        .validate_all(bytes)
        .map_err(|e| InspectError::Invalid {
            message: e.to_string(),
        })?;
    Wit::decode(bytes).map_err(|message| match message {
        None => InspectError::NotAComponent {
            found: "a WIT package (types only, no code)".to_owned(),
        },
        Some(message) => InspectError::Invalid { message },
    })
}

/// The first import for which `allowed(name)` is false is an error.
fn check_imports(wit: &Wit, allowed: impl Fn(&str) -> bool) -> Result<(), InspectError> {
    match wit.imports().find(|name| !allowed(name)) {
        Some(name) => Err(InspectError::UnsupportedImport { name }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::component_bytes;

    fn names(exports: &[ExportedFunction]) -> Vec<&str> {
        exports.iter().map(|f| f.name.as_str()).collect()
    }

    fn read(path: &str) -> Vec<u8> {
        std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn exports_are_listed_with_their_wit_names_and_signatures() {
        let exports = inspect(&component_bytes("guest")).unwrap().exports;
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
    fn every_parameter_gets_a_shape_that_sees_through_type_aliases() {
        use WitShape::*;
        use revenant_types::records::WitShape;
        let exports = inspect(&component_bytes("guest")).unwrap().exports;
        let shapes = |name: &str| {
            exports
                .iter()
                .find(|f| f.name == format!("example:types/api@0.1.0.{{{name}}}"))
                .and_then(ExportedFunction::param_shapes)
                .unwrap_or_else(|| panic!("{name}"))
        };
        assert_eq!(
            shapes("add-item"),
            [(
                "item".to_owned(),
                Record(vec![
                    ("product-id".into(), String),
                    ("name".into(), String),
                    ("price".into(), Float),
                    ("quantity".into(), Integer),
                ])
            )]
        );
        assert_eq!(
            shapes("opts"),
            [
                (
                    "o".to_owned(),
                    Record(vec![
                        ("required".into(), String),
                        ("maybe".into(), Option(Box::new(Integer))),
                    ])
                ),
                ("extra".to_owned(), Option(Box::new(String))),
            ]
        );
        assert_eq!(
            shapes("shapes"),
            [
                ("s".to_owned(), Other("shape".into())),
                ("c".to_owned(), Other("color".into())),
                ("p".to_owned(), Other("perms".into())),
            ]
        );
        assert_eq!(
            shapes("nested")[1],
            ("r".to_owned(), Other("result<u32, string>".into()))
        );
        assert_eq!(shapes("bytes"), [("b".to_owned(), List(Box::new(Integer)))]);
        assert_eq!(
            shapes("text"),
            [("c".to_owned(), Char), ("s".to_owned(), String)]
        );
        assert_eq!(shapes("noop"), []);
    }

    #[test]
    fn a_record_carries_hash_size_and_exports_of_the_binary() {
        let bytes = component_bytes("guest");
        let inspection = inspect(&bytes).unwrap();
        assert_eq!(inspection.size, bytes.len() as u64);
        assert_eq!(inspection.hash, content_hash(&bytes));
        assert_eq!(inspection.hash.len(), 64);
        let name = ComponentName::new("types").unwrap();
        let record = inspection.record(name.clone(), 7, 42);
        assert_eq!(
            (record.name, record.version, record.created_at),
            (name, 7, 42)
        );
        assert_eq!(record.exports, inspection.exports);
    }

    #[test]
    fn imports_are_checked_against_the_allow_list() {
        let wit = decode(&component_bytes("importer")).unwrap();
        let wasi = |name: &str| name.starts_with("wasi:");
        assert_eq!(
            check_imports(&wit, wasi).unwrap_err(),
            InspectError::UnsupportedImport {
                name: "example:types/api@0.1.0".into()
            }
        );
        assert_eq!(
            check_imports(&wit, |n| wasi(n) || n.starts_with("example:")).unwrap_err(),
            InspectError::UnsupportedImport { name: "log".into() }
        );
        check_imports(&wit, |_| true).unwrap();
        let guest = decode(&component_bytes("guest")).unwrap();
        check_imports(&guest, |_| false).unwrap();
        assert_eq!(
            inspect(&component_bytes("importer")).unwrap_err(),
            InspectError::UnsupportedImport {
                name: "example:types/api@0.1.0".into()
            },
            "upload refuses what executors do not provide"
        );
    }

    #[test]
    fn a_provided_interface_with_a_function_the_host_lacks_passes_upload() {
        // Names are all upload checks; the executor's linker refuses this one at
        // load (see `executor/src/components.rs`).
        inspect(&component_bytes("unlinkable")).unwrap();
    }

    #[test]
    fn non_components_are_refused_with_what_they_are() {
        let core = b"\0asm\x01\0\0\0";
        let err = inspect(core).unwrap_err();
        assert!(matches!(&err, InspectError::NotAComponent { found } if found.contains("core")));
        assert!(
            err.to_string()
                .starts_with("expected a WebAssembly component (wasm32-wasip2)"),
            "{err}"
        );
        assert!(matches!(
            inspect(b"hello world"),
            Err(InspectError::NotAComponent { .. })
        ));
        let truncated = &component_bytes("guest")[..40];
        assert!(matches!(
            inspect(truncated),
            Err(InspectError::Invalid { .. })
        ));
    }

    #[test]
    fn a_component_using_a_feature_the_executor_does_not_enable_is_invalid() {
        // A component whose only content is a core module using the
        // `custom-page-sizes` proposal (not enabled by wasmtime by default).
        let module = [
            b"\0asm\x01\0\0\0".as_slice(),
            // memory section: one memory, flags 0x08 (custom page size), min 1, page size log2 0
            &[5, 4, 1, 0x08, 1, 0],
        ]
        .concat();
        let mut component = b"\0asm\x0d\0\x01\0".to_vec();
        // core module section (id 1): size, then the module
        component.push(1);
        component.push(module.len() as u8);
        component.extend_from_slice(&module);
        let err = inspect(&component).unwrap_err();
        assert!(matches!(err, InspectError::Invalid { .. }), "{err}");
        Validator::new_with_features(FEATURES | WasmFeatures::CUSTOM_PAGE_SIZES)
            .validate_all(&component)
            .expect("the same bytes are valid with the feature on");
    }

    #[test]
    fn real_guests_are_described_and_import_only_wasi() {
        let counter = inspect(&read(revenant_guests::COUNTER)).unwrap();
        let add = crate::resolve_function(&counter.exports, "add").unwrap();
        assert_eq!(
            add.signature(),
            "example:counter/api.{add}(value: u64) -> u64"
        );
        let cart = read(revenant_guests::SHOPPING_CART);
        let signatures: Vec<String> = inspect(&cart)
            .unwrap()
            .exports
            .iter()
            .map(|f| f.signature())
            .collect();
        assert_eq!(
            signatures,
            [
                "example:shopping-cart/api.{add-item}(item: product-item)",
                "example:shopping-cart/api.{remove-item}(product-id: string) -> result<_, string>",
                "example:shopping-cart/api.{update-quantity}(product-id: string, quantity: u32) -> result<_, string>",
                "example:shopping-cart/api.{get-cart}() -> list<product-item>",
                "example:shopping-cart/api.{checkout}() -> result<order-confirmation, string>",
            ]
        );
        let wit = decode(&cart).unwrap();
        check_imports(&wit, |name| name.starts_with("wasi:")).unwrap();
        let err = check_imports(&wit, |_| false).unwrap_err();
        assert!(
            matches!(err, InspectError::UnsupportedImport { name } if name.starts_with("wasi:"))
        );
    }

    #[test]
    fn every_bundled_guest_passes_inspection() {
        for path in [
            revenant_guests::COUNTER,
            revenant_guests::SHOPPING_CART,
            revenant_guests::USER_ACTIVITIES,
            revenant_guests::JSON_SUM,
            revenant_guests::TEST_HTTP,
            revenant_guests::TEST_FAULTS,
            revenant_guests::TEST_TYPES,
            revenant_guests::TEST_DURABILITY,
        ] {
            if let Err(e) = inspect(&read(path)) {
                panic!("{path}: {e}");
            }
        }
    }
}
