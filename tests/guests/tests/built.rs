//! Checks what the build script produced: every path constant names a
//! WebAssembly component (not a core module) whose WIT world imports only
//! WASI 0.2 interfaces (plus `revenant:api` where the SDK is used) and
//! exports exactly the expected interface and functions.

use std::collections::BTreeSet;

use wit_parser::{Resolve, WorldId, WorldItem, WorldKey};

/// `\0asm`, then the component-model version/layer (0x0d 0x00, layer 0x01 0x00).
const COMPONENT_HEADER: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

struct Expected {
    path: &'static str,
    /// Each exported interface with its functions.
    exports: Vec<(&'static str, &'static [&'static str])>,
    uses_revenant_api: bool,
}

fn expected() -> Vec<Expected> {
    let guest = |path, export, functions, uses_revenant_api| Expected {
        path,
        exports: vec![(export, functions)],
        uses_revenant_api,
    };
    vec![
        Expected {
            path: revenant_guests::COUNTER,
            exports: vec![
                (
                    "example:counter/api",
                    &["add", "add-random", "get", "read-clock", "now"][..],
                ),
                ("revenant:api/snapshot@0.2.0", &["save", "load"][..]),
            ],
            uses_revenant_api: false,
        },
        guest(
            revenant_guests::SHOPPING_CART,
            "example:shopping-cart/api",
            &[
                "add-item",
                "remove-item",
                "update-quantity",
                "get-cart",
                "checkout",
            ],
            false,
        ),
        Expected {
            path: revenant_guests::USER_ACTIVITIES,
            exports: vec![
                (
                    "example:user-activities/api",
                    &["add-activity", "list-activities", "count"][..],
                ),
                ("revenant:api/snapshot@0.2.0", &["save", "load"][..]),
            ],
            uses_revenant_api: false,
        },
        guest(
            revenant_guests::JSON_SUM,
            "example:json-sum/api",
            &["sum"],
            false,
        ),
        guest(
            revenant_guests::TEST_HTTP,
            "test:http/api",
            &["get", "get-size"],
            false,
        ),
        guest(
            revenant_guests::TEST_FAULTS,
            "test:faults/api",
            &["trap", "spin", "grow", "echo", "busy", "blob", "exit"],
            false,
        ),
        guest(
            revenant_guests::APPROVAL,
            "example:approval/api",
            &["request"],
            true,
        ),
        guest(
            revenant_guests::REMINDER,
            "example:reminder/api",
            &["remind-in", "sleep-ms"],
            false,
        ),
        Expected {
            path: revenant_guests::TEST_DURABILITY,
            exports: vec![
                (
                    "test:durability/api",
                    &["whoami", "oplog-index", "idempotency-keys", "commit"][..],
                ),
                (
                    "test:durability/waiting",
                    &[
                        "sleep",
                        "create-promise",
                        "create-and-await",
                        "await-promise",
                        "race",
                        "complete",
                    ][..],
                ),
                (
                    "test:durability/calls",
                    &["call", "send", "call-all", "schedule", "cancel-schedule"][..],
                ),
            ],
            uses_revenant_api: true,
        },
        guest(
            revenant_guests::ORDER,
            "example:order/api",
            &["place"],
            true,
        ),
        guest(
            revenant_guests::PAYMENT,
            "example:payment/api",
            &["charge", "count"],
            true,
        ),
        guest(
            revenant_guests::WAREHOUSE,
            "example:warehouse/api",
            &["dispatch", "count"],
            true,
        ),
        guest(
            revenant_guests::SHIPPING,
            "example:shipping/api",
            &["ship", "count"],
            true,
        ),
        guest(
            revenant_guests::FAN_OUT,
            "example:fan-out/api",
            &["sum-squares", "square-of"],
            true,
        ),
        guest(
            revenant_guests::SQUARE,
            "example:square/api",
            &["square"],
            false,
        ),
        Expected {
            path: revenant_guests::SESSIONIZE,
            exports: vec![
                ("revenant:api/subscriber@0.2.0", &["handle"][..]),
                ("example:clickstream/sessions", &["stats"][..]),
            ],
            uses_revenant_api: true,
        },
        guest(
            revenant_guests::DAILY,
            "example:clickstream-daily/api",
            &["add-session", "totals"],
            false,
        ),
    ]
}

/// Reads a guest; the build script only reruns when its sources change, so a
/// deleted `examples/target` needs a rebuild of this crate.
fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| {
        panic!("{path}: {e}; if examples/target was removed, run `cargo clean -p revenant-guests -p revenant-examples` and build again")
    })
}

fn decode(path: &str) -> (Resolve, WorldId) {
    let bytes = read(path);
    assert!(
        bytes.starts_with(&COMPONENT_HEADER),
        "{path} is not a component (header {:02x?})",
        &bytes[..8.min(bytes.len())]
    );
    match wit_component::decode(&bytes).unwrap_or_else(|e| panic!("{path}: {e:#}")) {
        wit_component::DecodedWasm::Component(resolve, world) => (resolve, world),
        wit_component::DecodedWasm::WitPackage(..) => {
            panic!("{path} is a WIT package, not a component")
        }
    }
}

/// `(name, functions)` of each interface in `items`, e.g. `wasi:random/random@0.2.12`.
fn interfaces<'a>(
    resolve: &Resolve,
    items: impl Iterator<Item = (&'a WorldKey, &'a WorldItem)>,
) -> Vec<(String, BTreeSet<String>)> {
    items
        .map(|(key, item)| match item {
            WorldItem::Interface { id, .. } => (
                resolve.name_world_key(key),
                resolve.interfaces[*id].functions.keys().cloned().collect(),
            ),
            other => panic!(
                "unexpected world item {} ({other:?})",
                resolve.name_world_key(key)
            ),
        })
        .collect()
}

#[test]
fn paths_are_components() {
    let mut all: Vec<&str> = expected().iter().map(|e| e.path).collect();
    all.push(revenant_guests::TEST_TYPES);
    for path in all {
        let bytes = read(path);
        assert!(
            bytes.starts_with(&COMPONENT_HEADER),
            "{path} is not a component"
        );
    }
    let names: Vec<&str> = revenant_guests::all()
        .iter()
        .map(|(name, _)| *name)
        .collect();
    assert_eq!(
        names,
        [
            "counter",
            "shopping-cart",
            "user-activities",
            "json-sum",
            "approval",
            "reminder",
            "order",
            "payment",
            "warehouse",
            "shipping",
            "fan-out",
            "square",
            "sessionize",
            "daily"
        ]
    );
}

#[test]
fn imports_are_wasi_and_exports_match() {
    for guest in expected() {
        let (resolve, world) = decode(guest.path);
        let world = &resolve.worlds[world];
        let imports = interfaces(
            &resolve,
            world
                .imports
                .iter()
                .filter(|(_, item)| !matches!(item, WorldItem::Type { .. })),
        );
        println!("{}:", guest.path.rsplit('/').next().unwrap_or(guest.path));
        for (name, functions) in &imports {
            println!("  import {name} {functions:?}");
            // Typed RPC clients (`<ns>:<component>-client/<iface>`) are linked by the executor.
            let allowed = (name.starts_with("wasi:") && name.contains("@0.2."))
                || name == revenant_components::imports::WASI_LOGGING
                || revenant_components::client_import(name).is_some()
                || (guest.uses_revenant_api
                    && [
                        "revenant:api/durability@0.2.0",
                        "revenant:api/promises@0.2.0",
                        "revenant:api/rpc@0.2.0",
                        "revenant:api/messaging@0.2.0",
                    ]
                    .contains(&name.as_str()));
            assert!(allowed, "{}: unexpected import {name}", guest.path);
        }
        assert_eq!(
            guest.uses_revenant_api,
            imports
                .iter()
                .any(|(name, _)| name.starts_with("revenant:")),
            "{}: revenant:api import",
            guest.path
        );

        let exports = interfaces(&resolve, world.exports.iter());
        let want: Vec<(String, BTreeSet<String>)> = guest
            .exports
            .iter()
            .map(|(name, functions)| {
                let functions = functions.iter().map(|f| f.to_string()).collect();
                (name.to_string(), functions)
            })
            .collect();
        assert_eq!(exports, want, "{}: exports", guest.path);
    }
}

#[test]
fn test_types_exports_echo_functions() {
    let (resolve, world) = decode(revenant_guests::TEST_TYPES);
    let world = &resolve.worlds[world];
    let imports = interfaces(
        &resolve,
        world
            .imports
            .iter()
            .filter(|(_, item)| !matches!(item, WorldItem::Type { .. })),
    );
    println!("test_types.wasm:");
    for (name, functions) in &imports {
        println!("  import {name} {functions:?}");
        assert!(
            name.starts_with("wasi:") && name.contains("@0.2."),
            "unexpected import {name}"
        );
    }
    let exports = interfaces(&resolve, world.exports.iter());
    assert_eq!(exports.len(), 1);
    let (name, functions) = &exports[0];
    assert_eq!(name, "test:types/api");
    assert!(
        functions.contains("noop") && functions.contains("echo-everything") && functions.len() > 30,
        "{functions:?}"
    );
}

#[test]
fn committed_rpc_clients_are_what_client_wit_writes_for_their_components() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    for (component, path, client) in [
        (
            "payment",
            revenant_guests::PAYMENT,
            "examples/order-workflow/order/wit/deps/payment-client.wit",
        ),
        (
            "warehouse",
            revenant_guests::WAREHOUSE,
            "examples/order-workflow/order/wit/deps/warehouse-client.wit",
        ),
        (
            "shipping",
            revenant_guests::SHIPPING,
            "examples/order-workflow/order/wit/deps/shipping-client.wit",
        ),
        (
            "square",
            revenant_guests::SQUARE,
            "examples/fan-out/fan-out/wit/deps/square-client.wit",
        ),
        (
            "counter",
            revenant_guests::COUNTER,
            "examples/clients/counter-client.wit",
        ),
    ] {
        let written = revenant_components::client_wit(&read(path), component).expect("client WIT");
        let committed =
            std::fs::read_to_string(format!("{root}/{client}")).expect("committed client");
        assert_eq!(
            committed, written,
            "{client} is stale: `revenant component client-wit {component} -o {client}`"
        );
    }
}
